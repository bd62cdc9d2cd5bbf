/**
 * Telling the other side that a punch ended (the signaling schema's `punch-end`:
 * signaling/client-messages.ts `punchEnd`). A punch that ends without a path on one side — its
 * relay allocation was lost (session-lifecycle.ts `endRelayed`), it was aborted or superseded by
 * a re-punch, its connector closed, its frames or checks timed out — used to leave the other
 * side's session of it running to its own 15 s timeout, and a `connect` meanwhile joined that
 * doomed punch (connector.ts `runningWith`). Now the side that ends sends `punch-end {rid, ufrag,
 * reason}` through serve, and the receiver ends its side of THAT punch only: matched by rid,
 * by sender (serve sets `from` to the authenticated peer, so a third peer cannot name another's
 * punch) and by the sender's ufrag in it (a stale frame for a reused rid ends nothing). Its next
 * `connect` then starts a fresh punch.
 *
 * A path that was selected is never ended by the frame: it lives on its own consent checks
 * (RFC 7675), and a success on our side sends nothing. Best effort: the frame is dropped when
 * signaling is down or serve does not list `punch-end` in its `welcome.frames` (an older serve
 * refuses unknown frame types and would close the connection; `Peer.sendSignal` withholds it),
 * and the other side then ends on its timeout as before. Pure.
 */
import { PUNCH_ERR, PunchError } from './errors.js';
import type { Session } from './punch-session.js';
import type { PunchSignalIn, PunchSignalOut } from './punch-signals.js';

/** Why our side of a punch ended (the schema's closed enum, PUNCH_END_REASONS). */
export type PunchEndReason = 'failed' | 'timeout' | 'aborted' | 'closed' | 'relay-lost';

/** The reason to tell for the error that ended a punch. */
export function endReason(err: unknown): PunchEndReason {
  if (!(err instanceof PunchError)) return 'failed';
  switch (err.code) {
    case PUNCH_ERR.ABORTED:
      return 'aborted';
    case PUNCH_ERR.CLOSED:
      return 'closed';
    case PUNCH_ERR.SIGNAL_TIMEOUT:
      return 'timeout';
    default:
      return 'failed';
  }
}

/** The punch found a path on our side (the checks', or the hard-NAT step's on its socket). */
function succeeded(s: Session): boolean {
  return s.agent?.selected !== undefined || s.sideSelected === true;
}

/**
 * The `punch-end` to send as `s` ends with `reason`, once per session; undefined when there is
 * nothing to tell: it succeeded, it merged into the other side's punch on glare (the other side
 * never ran ours), the other side ended it, or the other side never heard of it (our candidates
 * were never sent).
 */
export function punchEndFrame(s: Session, reason: PunchEndReason): PunchSignalOut | undefined {
  if (s.endTold || succeeded(s) || s.merged) return undefined;
  if (s.initiator && s.sent === undefined) return undefined;
  s.endTold = true;
  return { type: 'punch-end', to: s.peer, rid: s.rid, ufrag: s.local.ufrag, reason };
}

/**
 * Does `f` end `s`? Only the punch's own peer, for this rid (the caller looked it up by rid),
 * naming the ufrag it gave us in it when we have it; never a punch that has a path.
 */
export function endsSession(
  s: Session | undefined,
  f: Extract<PunchSignalIn, { type: 'punch-end' }>,
): s is Session {
  if (!s || s.peer !== f.from || s.rid !== f.rid) return false;
  if (f.ufrag !== undefined && s.remote && s.remote.creds.ufrag !== f.ufrag) return false;
  return !succeeded(s) && !s.merged;
}

/** The error a punch ended by the other side ends with. */
export function endedByPeer(s: Session, reason: string): PunchError {
  return new PunchError(
    PUNCH_ERR.FAILED,
    `punch with ${s.peer} failed: the other side ended it (${reason})`,
  );
}
