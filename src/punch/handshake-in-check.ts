/**
 * The session handshake carried in connectivity checks (check-message.ts ATTR_HANDSHAKE).
 *
 * While the session has an init to carry, the first check of ours on each pair carries it (the
 * same bytes on every pair; a triggered check on the pair goes without, and the agent sends one if
 * the carrying check is not answered within two RTOs, so a middlebox that drops the bigger check
 * cannot stop the punch). An authenticated check carrying an init gets the session's answer in
 * its success response, and an authenticated response carrying an answer goes to the session. A
 * check or response that does not verify is dropped by the agent before its attribute is looked
 * at. The session's callbacks may throw (a stale or garbled handshake): that costs the handshake,
 * never the check, so every call is caught and logged here.
 */
import type { Logger } from '../util/logger.js';
import type { CandidatePair, CheckHandshake } from './check-types.js';

export interface HandshakeCarrierOptions {
  handshake: CheckHandshake | undefined;
  log: Logger;
  /** The check RTO (RFC 8489 §6.2.1) of the checks that carry the init. */
  rtoMs: number;
  /** Run `fn` after `ms` on the agent's clock (the agent cancels it when checking stops). */
  schedule(fn: () => void, ms: number): void;
  /** The carrying check on `pair` went unanswered: send a plain triggered check. */
  fallback(pair: CandidatePair): void;
}

export class HandshakeCarrier {
  /** Pair ids whose check carried the session init (once per pair; bounded by the pairs). */
  readonly #carried = new Set<string>();

  constructor(readonly o: HandshakeCarrierOptions) {}

  /** The init for the next check on `pair` (the check-message.ts field), once per pair. */
  initFor(pair: CandidatePair): { handshake?: Uint8Array } {
    if (this.#carried.has(pair.id)) return {};
    try {
      const h = this.o.handshake?.init();
      if (!h) return {};
      this.#carried.add(pair.id);
      // Unanswered within the first RTO (lost, or dropped for its size or attribute): a plain
      // triggered check on the pair, so the punch never depends on the bigger packet.
      // Two RTOs: the carrying check has been retransmitted once by then (RFC 8489 §6.2.1: at
      // RTO and 3·RTO), so a single loss, or a round trip just above one RTO, keeps the init.
      this.o.schedule(() => this.o.fallback(pair), 2 * this.o.rtoMs);
      return { handshake: h };
    } catch {
      return {};
    }
  }

  /** An init from an authenticated check: our answer for its success response, if any. */
  answer(init: Uint8Array): Uint8Array | undefined {
    try {
      return this.o.handshake?.answer(init);
    } catch (e) {
      this.o.log.debug('handshake in check not answered', { err: String(e) });
      return undefined;
    }
  }

  /** An answer from an authenticated response to one of our checks. */
  response(answer: Uint8Array): void {
    try {
      this.o.handshake?.response(answer);
    } catch (e) {
      this.o.log.debug('handshake answer in check dropped', { err: String(e) });
    }
  }
}
