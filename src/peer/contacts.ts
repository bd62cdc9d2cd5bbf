/**
 * A peer's contact list, sent to the server as the `allow` frame (CONTRACTS §1): who may see its
 * presence and reach it with rendezvous frames (`candidates`, `punch`, `p2p`). Policy:
 * - `'anyone'`: every peer (a public service);
 * - an explicit list: exactly those peers (plus nobody else, ever);
 * - default: the peers it notified or was notified by, most recent first, at most
 *   LIMITS.maxAllowedPeers (1,024 — the server's bound for one list): a stranger cannot learn
 *   whether we are online or start a punch until we have exchanged a notification.
 */
import { LIMITS } from '../signaling/constants.js';
import { isPeerId } from '../signaling/identity.js';

/** The server's bound on one `allow` list (CONTRACTS §1). */
export const MAX_ALLOWED_PEERS = LIMITS.maxAllowedPeers;

export type AllowPolicy = 'anyone' | readonly string[];

export class Contacts {
  readonly #explicit: readonly string[] | undefined;
  readonly #anyone: boolean;
  /** Insertion-ordered: oldest first, so the oldest is forgotten when full. */
  readonly #auto = new Set<string>();
  /**
   * The peer `note` was last called with: noted again, nothing changes (it is already the most
   * recent, or was refused, for a reason that still holds). A flood names one peer; its regex
   * check and the Set's delete and add were per notification on both sides.
   */
  #last: string | undefined;

  constructor(policy?: AllowPolicy) {
    if (policy === 'anyone') {
      this.#anyone = true;
      this.#explicit = undefined;
    } else if (policy !== undefined) {
      if (!Array.isArray(policy)) throw new TypeError("allow must be 'anyone' or an array of ids");
      for (const p of policy) if (!isPeerId(p)) throw new TypeError(`not a peer id: ${p}`);
      if (policy.length > MAX_ALLOWED_PEERS)
        throw new RangeError(`at most ${MAX_ALLOWED_PEERS} allowed peers`);
      this.#anyone = false;
      this.#explicit = [...new Set(policy)];
    } else {
      this.#anyone = false;
      this.#explicit = undefined;
    }
  }

  /** True if the list changed (the frame must be sent again). */
  note(peer: string): boolean {
    if (peer === this.#last) return false;
    this.#last = peer;
    if (this.#anyone || this.#explicit || !isPeerId(peer)) return false;
    if (this.#auto.has(peer)) {
      // refresh recency without a resend: the set of peers is unchanged
      this.#auto.delete(peer);
      this.#auto.add(peer);
      return false;
    }
    this.#auto.add(peer);
    while (this.#auto.size > MAX_ALLOWED_PEERS) {
      const oldest = this.#auto.values().next().value;
      if (oldest === undefined) break;
      this.#auto.delete(oldest);
    }
    return true;
  }

  allows(peer: string): boolean {
    if (this.#anyone) return true;
    return (this.#explicit ?? [...this.#auto]).includes(peer);
  }

  frame(): { type: 'allow'; peers: string[]; anyone: boolean } {
    return {
      type: 'allow',
      peers: this.#anyone ? [] : [...(this.#explicit ?? this.#auto)],
      anyone: this.#anyone,
    };
  }
}
