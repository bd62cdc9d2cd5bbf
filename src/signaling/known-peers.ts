/**
 * Which peers have registered, as the mailbox answers it: the UNKNOWN_PEER check of every
 * notification, and the `welcome` that waits for a registration to be durable (mailbox.ts
 * `register` writes it). Also where a login meets the bounds on registrations
 * (store/peer-limits.ts): a known peer's login is noted as seen (throttled), a new peer at a
 * local store's cap is refused PEER_LIMIT (a shared store refuses in the store itself), and
 * registrations the store's idle expiry deleted are forgotten here too.
 */
import type { Clock } from '../util/clock.js';
import { isNatpushError } from '../util/errors.js';
import { SignalingErrorCode } from './errors.js';
import { peerLimitError, touchIntervalMs } from './store/peer-limits.js';
import { isSharedStore, type AnyMailboxStore } from './store/store.js';

export class KnownPeers {
  /**
   * Registered peers → when this process last noted them seen (ms). A local store's are all of
   * its registrations (loaded at start); a shared store's only those registered or seen through
   * this node. Bound: the store's `peers` table, at most peerLimits.max (the cap, and expiry
   * deletes here what it deletes there).
   */
  readonly #known = new Map<string, number>();
  readonly #touchEveryMs: number;
  /**
   * Registrations dropped since start, by reason: refused at the cap (`peer-limit`), deleted by
   * the idle expiry (`idle`; a shared store's: every node counts each once).
   */
  readonly dropped = { 'peer-limit': 0, idle: 0 };
  /** Touches the store threw on (a full disk): the next login tries again. */
  touchFailures = 0;
  /**
   * Registrations not yet durable, by peer: a second `register` of the same peer meanwhile waits
   * for the same commit. Bound: peers registering at once (one per authenticating connection),
   * each entry lives one group commit.
   */
  readonly #registering = new Map<string, Promise<void>>();
  /** Shared-store lookups in flight. Bound: peers being checked at once (one round trip each). */
  readonly #lookups = new Map<string, Promise<boolean>>();

  constructor(
    private readonly store: AnyMailboxStore,
    private readonly clock: Clock,
  ) {
    // A shared store knows every node's peers itself (and they are too many to copy here).
    if (!isSharedStore(store)) for (const [p, seen] of store.peersSeen()) this.#known.set(p, seen);
    this.#touchEveryMs = touchIntervalMs(store.peerLimits);
    store.onPeersExpired = (peers) => {
      this.dropped.idle += peers.length;
      for (const p of peers) this.#known.delete(p);
    };
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

  /**
   * Note `peer` as registered here; false if there is nothing to write: it already was (its
   * login is noted as seen, at most once per touch interval), or a local store is at its cap
   * (then `registration(peer)` rejects PEER_LIMIT).
   */
  add(peer: string): boolean {
    const now = this.clock.now();
    const seen = this.#known.get(peer);
    if (seen !== undefined) {
      if (now - seen >= this.#touchEveryMs) this.#touch(peer, now);
      return false;
    }
    const store = this.store;
    const max = store.peerLimits.max;
    if (!isSharedStore(store) && this.#known.size >= max) {
      this.track(peer, Promise.reject(peerLimitError(max)));
      return false;
    }
    this.#known.set(peer, now);
    return true;
  }

  #touch(peer: string, now: number): void {
    this.#known.set(peer, now);
    try {
      this.store.touchPeer(peer, now);
    } catch {
      this.touchFailures++;
    }
  }

  /** `written` resolves once `peer`'s registration is durable (see `registration`). */
  track(peer: string, written: Promise<void>): void {
    const tracked = written.finally(() => this.#registering.delete(peer));
    // Refused (PEER_LIMIT) or not written: not known here either, so the next login registers
    // again instead of being welcomed unregistered.
    tracked.catch((err: unknown) => {
      this.#known.delete(peer);
      if (isNatpushError(err, SignalingErrorCode.PEER_LIMIT)) this.dropped['peer-limit']++;
    });
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
