/**
 * The responder: a Binding request addressed to our ufrag (RFC 8445 §7.3). It is answered only
 * when its USERNAME, MESSAGE-INTEGRITY and FINGERPRINT verify with the session's credentials, so
 * a third party can neither open a pair nor learn a prflx candidate into our list. Then, in the
 * order of §7.3.1: a role conflict is resolved (§7.3.1.1, role-conflict.ts); the success response
 * goes out (carrying the session's handshake answer, handshake-in-check.ts); the pair is found or
 * formed, learning a peer-reflexive remote from an unknown source (§7.3.1.3); a USE-CANDIDATE is
 * noted (§7.3.1.5); and a triggered check is queued on the pair (§7.3.1.4).
 *
 * Checks arriving before the agent starts are answered and queued as triggered checks, so a peer
 * whose clock runs ahead does not lose its first checks. After selection, an authenticated check
 * from a new source of the remote on the selected pair's base goes to remote-move.ts; on the
 * other base it forms a heard pair (the remote may send its data that way: issue 9/11).
 */
import type { Endpoint } from '../net/udp.js';
import type { StunMessage } from '../stun/message.js';
import type { CandidateBase } from './candidates.js';
import type { Role } from './check-message.js';
import { buildCheckSuccess, buildRoleConflict, verifyCheck } from './check-message.js';
import type { Checklist } from './checklist.js';
import type { CandidatePair, CheckAgentOptions, CheckStats } from './check-types.js';
import type { Via } from './demux.js';
import type { HandshakeCarrier } from './handshake-in-check.js';
import { resolveRoleConflict } from './role-conflict.js';

/** What the responder reads and does in its agent (checks.ts). */
export interface ResponderHost {
  readonly o: CheckAgentOptions;
  readonly stats: CheckStats;
  readonly list: Checklist;
  readonly carrier: HandshakeCarrier;
  role(): Role;
  /** We lost a role conflict: take the other role (and forget a nomination in flight). */
  switchRole(): void;
  selected(): CandidatePair | undefined;
  /** The agent is closed, failed or lost consent. */
  done(): boolean;
  /** An authenticated check from a new source on the selected pair's base. */
  moved(from: Endpoint): void;
  select(pair: CandidatePair): void;
  /** A USE-CANDIDATE on `pair` after we selected (pair-upgrade.ts). */
  nominatedLate(pair: CandidatePair): void;
  trigger(pair: CandidatePair): void;
}

export class CheckResponder {
  constructor(readonly host: ResponderHost) {}

  handle(msg: StunMessage, from: Endpoint, via: Via): void {
    const h = this.host;
    if (h.done() && !h.selected()) return;
    const check = verifyCheck(msg, h.o.local, h.o.remote);
    if (!check) {
      h.stats.requestsRejected++;
      return;
    }
    if (this.#roleConflict(msg, check.role, check.tieBreaker, from, via)) return;
    h.stats.requestsAnswered++;
    const answer = check.handshake ? h.carrier.answer(check.handshake) : undefined;
    h.o.send(buildCheckSuccess(msg, from, h.o.local.pwd, answer), from, via);

    const base: CandidateBase = via === 'relay' ? 'relay' : 'socket';
    if (via === 'relay' && !h.o.transactions.relay) return;
    // A nomination while we hold a relayed pair (pair-upgrade.ts).
    const late = check.useCandidate && h.role() === 'controlled' && h.selected()?.kind === 'relay';
    const pair = this.#pairOf(base, from, check.priority);
    if (!pair) return;
    pair.heard = true;
    if (late) return h.nominatedLate(pair);
    if (check.useCandidate && h.role() === 'controlled' && !h.selected()) {
      // RFC 8445 §7.3.1.5: select once OUR check on this pair has succeeded too. Selecting on the
      // USE-CANDIDATE alone would let an on-path third party replay a sniffed nomination from its
      // own address and be selected; it cannot answer our check (the answer needs the remote
      // pwd). Datagrams that beat our selection wait in the connector's early buffer.
      pair.nominated = true;
      if (pair.state === 'succeeded') return h.select(pair);
    }
    if (!h.selected() && pair.state !== 'succeeded') h.trigger(pair);
  }

  /** The pair the check came in on; undefined when none is (or may be) formed. */
  #pairOf(base: CandidateBase, from: Endpoint, priority: number): CandidatePair | undefined {
    const h = this.host;
    const pair = h.list.find(base, from);
    if (pair) return pair;
    const selected = h.selected();
    if (selected && base === selected.base) {
      // Same peer, authenticated, new source: its NAT rebound (or its address changed).
      h.moved(from);
      return undefined;
    }
    // After selection on the OTHER base (issue 9/11): the remote's check through our relay that
    // we just answered may be the pair it selects; formed and heard, its data passes the path's
    // filter (checklist.ts validFor). Bounded like any prflx (PUNCH_LIMITS); no check triggered.
    // A known remote reached on another base (e.g. through our relay), or RFC 8445 §7.3.1.3:
    // a peer-reflexive remote candidate, priority from the check.
    let remote = h.list.remote(from);
    if (!remote) {
      remote = h.list.learnPrflx(from, priority);
      if (!remote) return undefined;
      h.stats.prflxLearned++;
    }
    return h.list.pair(base, remote, h.role());
  }

  /** RFC 8445 §7.3.1.1; true when we keep our role and answered 487 (the check goes no further). */
  #roleConflict(msg: StunMessage, theirRole: Role, theirs: bigint, from: Endpoint, via: Via) {
    const h = this.host;
    const outcome = resolveRoleConflict(h.role(), h.o.tieBreaker, theirRole, theirs);
    if (outcome === 'none') return false;
    h.stats.roleConflicts++;
    if (outcome === 'keep') {
      h.o.send(buildRoleConflict(msg, h.o.local.pwd), from, via);
      return true;
    }
    h.switchRole();
    return false;
  }
}
