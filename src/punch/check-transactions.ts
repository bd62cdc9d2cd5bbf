/**
 * The outgoing side of connectivity checks: building a check for a pair, running it as a STUN
 * transaction (stun/transaction.ts retransmits it, RFC 8489 §6.2.1) and remembering which
 * transactions are ours, so that a response is verified with the remote pwd BEFORE the engine
 * matches it (a forged answer cannot complete or fail a check).
 *
 * Two kinds of check go out: paced checks on a checklist pair (a triggered one replaces the
 * pair's in-progress one, RFC 8445 §7.3.1.4), and probes outside the checklist (consent, RFC 7675;
 * verifying a remote's new source) that replace nothing.
 */
import { setMaxListeners } from 'node:events';
import type { Endpoint } from '../net/udp.js';
import type { StunMessage } from '../stun/message.js';
import type { StunResponse, StunTransactions } from '../stun/transaction.js';
import type { CandidateBase } from './candidates.js';
import { candidatePriority } from './candidates.js';
import type { Role } from './check-message.js';
import { buildCheck, verifyCheckResponse } from './check-message.js';
import type { CandidatePair, CheckAgentOptions, CheckStats } from './check-types.js';
import { txHex } from './check-types.js';
import { PUNCH_DEFAULTS } from './constants.js';

/** What a check says besides the credentials (check-message.ts). */
export interface CheckFields {
  role: Role;
  useCandidate?: boolean;
  handshake?: Uint8Array;
}

export class CheckTransactions {
  /** Outstanding transaction ids (hex) of our checks → pair id; answers are verified first. */
  readonly #inflight = new Map<string, string>();
  /** The latest check transaction id per pair (bounded by the pair table). */
  readonly #pairTx = new Map<string, Uint8Array>();
  readonly #abort = new AbortController();
  /** The controlling side's aggressive nominations of direct pairs: a relay selection leaves
   *  them running (pair-upgrade.ts); a direct selection or the end stops them. */
  readonly #abortNominations = new AbortController();

  constructor(
    readonly o: CheckAgentOptions,
    readonly stats: CheckStats,
  ) {
    // Every check transaction of this session listens on one signal: as many as may be pending
    // (a replaced check stays answerable beside its successor), more than Node's default 10.
    setMaxListeners(2 * PUNCH_DEFAULTS.maxPendingChecks, this.#abort.signal);
    setMaxListeners(2 * PUNCH_DEFAULTS.maxPendingChecks, this.#abortNominations.signal);
  }

  /** The engine for a base; undefined for the relay before we have an allocation. */
  engine(base: CandidateBase): StunTransactions | undefined {
    return base === 'relay' ? this.o.transactions.relay : this.o.transactions.socket;
  }

  /**
   * Returns 'mine' (verified, hand it to the engine), 'forged' (drop) or 'other' (not a check
   * response of ours).
   */
  screen(msg: StunMessage): 'mine' | 'forged' | 'other' {
    if (!this.#inflight.has(txHex(msg.transactionId))) return 'other';
    if (verifyCheckResponse(msg, this.o.remote)) return 'mine';
    this.stats.responsesRejected++;
    return 'forged';
  }

  /**
   * A paced check on `pair` through `tx`. `answered` gets the (verified) response; `failed` runs
   * when it ends unanswered, unless a later check on the pair replaced it. A `nomination` is
   * stopped only by `abort({ nominations: true })`.
   */
  check(
    tx: StunTransactions,
    pair: CandidatePair,
    bytes: Uint8Array,
    answered: (res: StunResponse) => void,
    failed: () => void,
    nomination = false,
  ): void {
    const key = txHex(bytes.subarray(8, 20));
    this.#inflight.set(key, pair.id);
    this.stats.checksSent++;
    // RFC 8445 §7.3.1.4: a triggered check replaces the pair's in-progress one; the old one stops
    // retransmitting but may still be answered.
    const previous = this.#pairTx.get(pair.id);
    if (previous) tx.stopRetransmitting(previous);
    const id = bytes.slice(8, 20);
    this.#pairTx.set(pair.id, id);
    tx.start(pair.remote, bytes, {
      retransmission: this.o.checkRetransmission ?? PUNCH_DEFAULTS.checkRetransmission,
      signal: (nomination ? this.#abortNominations : this.#abort).signal,
    }).then(
      (res) => {
        this.#inflight.delete(key);
        if (this.#pairTx.get(pair.id) === id) this.#pairTx.delete(pair.id);
        answered(res);
      },
      () => {
        this.#inflight.delete(key);
        // A replaced check that ends unanswered does not fail the pair: its successor runs.
        if (this.#pairTx.get(pair.id) !== id) return;
        this.#pairTx.delete(pair.id);
        failed();
      },
    );
  }

  /**
   * A probe outside the checklist on `pair`'s base toward `to` (consent, move verification):
   * retransmitted on the consent schedule, not stopped by `abort`.
   */
  probe(
    tx: StunTransactions,
    pair: CandidatePair,
    to: Endpoint,
    role: Role,
    answered: (res: StunResponse) => void,
    failed?: () => void,
  ): void {
    const bytes = this.build(pair, { role });
    const key = txHex(bytes.subarray(8, 20));
    this.#inflight.set(key, pair.id);
    tx.start(to, bytes, { retransmission: PUNCH_DEFAULTS.consentRetransmission }).then(
      (res) => {
        this.#inflight.delete(key);
        answered(res);
      },
      () => {
        this.#inflight.delete(key);
        failed?.();
      },
    );
  }

  /** The check bytes for `pair` (our priority as a prflx on its base, RFC 8445 §7.1.1). */
  build(pair: CandidatePair, f: CheckFields): Uint8Array {
    return buildCheck({
      local: this.o.local,
      remote: this.o.remote,
      priority: candidatePriority('prflx', pair.base === 'relay' ? 0 : 65535),
      role: f.role,
      tieBreaker: this.o.tieBreaker,
      ...(f.useCandidate !== undefined ? { useCandidate: f.useCandidate } : {}),
      ...(f.handshake !== undefined ? { handshake: f.handshake } : {}),
    });
  }

  /** Stop every paced check, but nominations unless asked (probes run to their end). */
  abort(o: { nominations: boolean }): void {
    this.#abort.abort();
    if (o.nominations) this.#abortNominations.abort();
  }
}
