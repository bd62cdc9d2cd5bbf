/**
 * Which peers have registered, as the mailbox answers it: the UNKNOWN_PEER check of every
 * notification, and the `welcome` that waits for a registration to be durable (mailbox.ts
 * `register` writes it).
 */
import { isSharedStore, type AnyMailboxStore } from './store/store.js';

export class KnownPeers {
  /** Registered peers of a local store (loaded at start). Bound: the store's `peers` table. */
  readonly #known = new Set<string>();
  /**
   * Registrations not yet durable, by peer: a second `register` of the same peer meanwhile waits
   * for the same commit. Bound: peers registering at once (one per authenticating connection),
   * each entry lives one group commit.
   */
  readonly #registering = new Map<string, Promise<void>>();
  /** Shared-store lookups in flight. Bound: peers being checked at once (one round trip each). */
  readonly #lookups = new Map<string, Promise<boolean>>();

  constructor(private readonly store: AnyMailboxStore) {
    // A shared store knows every node's peers itself (and they are too many to copy here).
    if (!isSharedStore(store)) for (const p of store.knownPeers()) this.#known.add(p);
  }

  isKnown(peer: string): boolean {
    const store = this.store;
    return this.#known.has(peer) || (isSharedStore(store) && store.isKnown(peer));
  }

  /**
   * `isKnown`, and for a shared store not yet told of the registration (it registered with
   * another node a moment ago), the store's own answer. While such a lookup is in flight every
   * later check of the same peer waits for it too, so that notifications to it are accepted in
   * the order they came (per-sender order) even once the registration broadcast arrived.
   */
  checkKnown(peer: string): boolean | Promise<boolean> {
    const inFlight = this.#lookups.get(peer);
    if (inFlight) return inFlight;
    if (this.isKnown(peer)) return true;
    const store = this.store;
    if (!isSharedStore(store)) return false;
    const p = store.lookupPeer(peer).finally(() => this.#lookups.delete(peer));
    this.#lookups.set(peer, p);
    return p;
  }

  get count(): number {
    const store = this.store;
    return isSharedStore(store) ? store.knownCount : this.#known.size;
  }

  /** Note `peer` as registered here; false if it already was (nothing to write). */
  add(peer: string): boolean {
    if (this.#known.has(peer)) return false;
    this.#known.add(peer);
    return true;
  }

  /** `written` resolves once `peer`'s registration is durable (see `registration`). */
  track(peer: string, written: Promise<void>): void {
    const tracked = written.finally(() => this.#registering.delete(peer));
    // A failure is the waiter's to handle (or logged by the store): never an unhandled rejection.
    tracked.catch(() => {});
    this.#registering.set(peer, tracked);
  }

  /**
   * Resolves once `peer`'s registration is durable: committed (and, for SQLite, fsynced) with its
   * batch, or written to the shared store. The server says `welcome` only then, so a welcomed
   * peer is known to every node and after any restart: a notification sent to it the moment it
   * logs in is never refused UNKNOWN_PEER (round 2: `welcome` went out before the commit).
   * A local store that fails the commit resolves it all the same (the write is retried, see
   * mailbox.ts #commitFailed); a shared store's failed write rejects (the peer is unknown to the
   * other nodes, so its connection is refused and it logs in again).
   */
  registration(peer: string): Promise<void> {
    return this.#registering.get(peer) ?? Promise.resolve();
  }
}
