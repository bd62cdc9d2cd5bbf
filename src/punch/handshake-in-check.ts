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
import type { CheckHandshake } from './check-types.js';

export class HandshakeCarrier {
  /** Pair ids whose check carried the session init (once per pair; bounded by the pairs). */
  readonly #carried = new Set<string>();

  constructor(
    readonly handshake: CheckHandshake | undefined,
    readonly log: Logger,
  ) {}

  /** The init for the next check on `pairId`, once per pair; undefined when none is to go. */
  initFor(pairId: string): Uint8Array | undefined {
    if (this.#carried.has(pairId)) return undefined;
    try {
      const h = this.handshake?.init();
      if (!h) return undefined;
      this.#carried.add(pairId);
      return h;
    } catch {
      return undefined;
    }
  }

  /** An init from an authenticated check: our answer for its success response, if any. */
  answer(init: Uint8Array): Uint8Array | undefined {
    try {
      return this.handshake?.answer(init);
    } catch (e) {
      this.log.debug('handshake in check not answered', { err: String(e) });
      return undefined;
    }
  }

  /** An answer from an authenticated response to one of our checks. */
  response(answer: Uint8Array): void {
    try {
      this.handshake?.response(answer);
    } catch (e) {
      this.log.debug('handshake answer in check dropped', { err: String(e) });
    }
  }
}
