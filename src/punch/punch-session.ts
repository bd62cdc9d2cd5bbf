/**
 * One punch with one remote peer, as the connector tracks it from `connect` (or the other side's
 * `candidates`) to a selected path, and the waits for the other side's frames. The connector
 * owns the table of sessions (bounded by PUNCH_LIMITS.maxSessions).
 */
import type { Endpoint } from '../net/udp.js';
import type { StunMessage } from '../stun/message.js';
import type { Clock } from '../util/clock.js';
import type { IceCredentials, Role } from './check-message.js';
import type { CheckAgent } from './checks.js';
import type { Via } from './demux.js';
import { PUNCH_ERR, PunchError } from './errors.js';
import type { WireNatFacts } from './nat-facts.js';
import type { PunchedPath } from './path.js';
import type { RemoteDescription, WireCandidate } from './punch-signals.js';

export interface Session {
  readonly rid: string;
  readonly peer: string;
  readonly role: Role;
  /** We started it (`connect`); the other side answers. */
  readonly initiator: boolean;
  readonly local: IceCredentials;
  agent: CheckAgent | undefined;
  remote?: RemoteDescription;
  /** The hard-NAT step found this session's path on another socket (side-path.ts). */
  sideSelected?: boolean;
  /**
   * The NAT facts the other side got from us for this punch (in our `candidates`, or in the
   * offer serve answered with): the hard-NAT step is decided from these and the other side's,
   * exactly what the other side decides from, even if our facts changed since.
   */
  sentNat?: WireNatFacts;
  /** Ends the session's hard-NAT step (glare, close). */
  stopStep?: () => void;
  /** Resolves when the other side's candidates arrive. */
  onCandidates?: () => void;
  /** Glare (see `localPeerId`): our connect follows the other side's punch instead. */
  merged?: Promise<PunchedPath>;
  onMerged?: (path: Promise<PunchedPath>) => void;
  /** The punch's outcome (set as it starts): a second `connect` toward the peer joins it. */
  path?: Promise<PunchedPath>;
  onStart?: (at: number, rtt: number) => void;
  /** Our candidates as the other side got them (undefined until sent): trickling adds to it. */
  sent?: WireCandidate[];
  /**
   * We answered with an offer serve handed out (registered earlier, with the relayed candidate
   * we had then): `sent` stays empty, so only a relayed candidate made since is trickled.
   */
  fromOffer?: boolean;
  /** The answer was an offer serve handed out: its punch-start is on the way. */
  startComing?: boolean;
  /** A punch-start that came before we waited for it (right behind the answer's candidates). */
  start?: { at: number; rtt: number };
  /**
   * The other side knows this punch ended: we sent it `punch-end`, or it ended it (punch-end.ts).
   * At most one `punch-end` per session.
   */
  endTold?: boolean;
  /** Ends a wait for the other side early (close()). */
  cancelWait?: (err: Error) => void;
  /** Checks that arrived before the agent existed are not lost: the agent answers them later. */
  readonly early: { msg: StunMessage; from: Endpoint; via: Via }[];
  /** Session datagrams from an authenticated remote that arrived before our selection. */
  readonly earlyData: { data: Uint8Array; from: Endpoint; via: Via }[];
}

/** Checks kept per session while its agent is not built yet (the remote started early). */
export const MAX_EARLY_CHECKS = 16;
/**
 * Session datagrams kept per session between the controlling side's selection and ours (one or
 * two check round trips; the session layer sends a handshake and a few datagrams in that time).
 */
export const MAX_EARLY_DATA = 32;

/**
 * Wait for one of the other side's frames (`arm` calls `done` with it), at most `ms`; the
 * session's `cancelWait` ends it early (close, glare), an abort rejects it.
 */
export function waitFor<T>(
  s: Session,
  o: { clock: Clock; ms: number; what: string; signal: AbortSignal | undefined },
  arm: (done: (v: T) => void) => void,
): Promise<T> {
  const { signal, ms } = o;
  return new Promise<T>((resolve, reject) => {
    if (signal?.aborted) return reject(new PunchError(PUNCH_ERR.ABORTED, 'aborted'));
    const onAbort = (): void => finish(new PunchError(PUNCH_ERR.ABORTED, 'aborted'));
    const timer = o.clock.setTimeout(
      () =>
        finish(
          new PunchError(PUNCH_ERR.SIGNAL_TIMEOUT, `no ${o.what} from ${s.peer} within ${ms} ms`),
        ),
      ms,
    );
    const finish = (v: T | Error): void => {
      timer.cancel();
      signal?.removeEventListener('abort', onAbort);
      if (v instanceof Error) reject(v);
      else resolve(v);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    s.cancelWait = finish;
    arm((v) => finish(v));
  });
}

export function abortable<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(new PunchError(PUNCH_ERR.ABORTED, 'aborted'));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new PunchError(PUNCH_ERR.ABORTED, 'aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

export function pick<T extends object, K extends keyof T>(o: T, keys: K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
  return out;
}
