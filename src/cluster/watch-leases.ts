/**
 * The TTL of `watch:{peer}` (keys.ts): a node writes `node\twatcher` for each of its watchers
 * of a peer on another node (remote-presence.ts) and keeps the key alive while it has any,
 * renewing it every CLUSTER_TIMING.watchRefreshMs for a watchTtlMs TTL. A node that crashes
 * renews nothing, so what it left expires with the key unless another node still watches the
 * peer — then its entries go when a change of the peer finds their node gone (remote-presence.ts
 * `#unwatch`), as before.
 *
 * Renewal costs one PEXPIRE per distinct watched peer; a key that is gone (expired while Redis
 * was unreachable for a whole TTL, or Redis restarted empty) gets this node's entries again.
 * Memory: this node's remote watch entries once more (≤ maxWatchedPeers per connection).
 */
import type { ChainableCommander } from 'ioredis';
import type { TimerHandle } from '../util/clock.js';
import type { ClusterNode } from './cluster-node.js';

/** Peers renewed per MULTI: one round trip per batch, short enough not to stall Redis. */
const RENEW_BATCH = 500;

export class WatchLeases {
  readonly #c: ClusterNode;
  /** Watched peer (on another node) → this node's watchers with an entry in its key. */
  readonly #mine = new Map<string, Set<string>>();
  #timer: TimerHandle | undefined;

  constructor(cluster: ClusterNode) {
    this.#c = cluster;
    this.#schedule();
  }

  /** Peers whose key this node renews. */
  get size(): number {
    return this.#mine.size;
  }

  /** Queue on `m` the entry of `watcher` in `peer`'s key and its TTL. */
  add(m: ChainableCommander, watcher: string, peer: string): void {
    let set = this.#mine.get(peer);
    if (!set) this.#mine.set(peer, (set = new Set()));
    set.add(watcher);
    m.pexpire(this.#c.keys.watch(peer), this.#c.timing.watchTtlMs);
  }

  /** Forget `watcher`'s entry of `peer` (the caller SREMs it). */
  remove(watcher: string, peer: string): void {
    const set = this.#mine.get(peer);
    set?.delete(watcher);
    if (set?.size === 0) this.#mine.delete(peer);
  }

  /** Renew every key this node has entries in; restore the entries of keys that are gone. */
  async renew(): Promise<void> {
    const { redis, keys, id, timing } = this.#c;
    const peers = [...this.#mine.keys()];
    for (let i = 0; i < peers.length; i += RENEW_BATCH) {
      const batch = peers.slice(i, i + RENEW_BATCH);
      const m = redis.multi();
      for (const p of batch) m.pexpire(keys.watch(p), timing.watchTtlMs);
      const res = (await m.exec()) ?? [];
      const gone = batch.filter((p, j) => res[j]?.[1] === 0 && this.#mine.has(p));
      if (gone.length === 0) continue;
      const again = redis.multi();
      for (const p of gone) {
        const entries = [...this.#mine.get(p)!].map((w) => `${id}\t${w}`);
        again.sadd(keys.watch(p), ...entries).pexpire(keys.watch(p), timing.watchTtlMs);
      }
      await again.exec();
    }
  }

  #schedule(): void {
    // A closed node (its connection ended) renews nothing more: its keys expire.
    if (this.#c.redis.status === 'end') return;
    this.#timer = this.#c.clock.setTimeout(() => {
      this.#timer = undefined;
      void this.renew()
        .catch((err: unknown) =>
          this.#c.logger.warn('cluster presence: watch renewal failed', { err: String(err) }),
        )
        .finally(() => this.#schedule());
    }, this.#c.timing.watchRefreshMs);
  }

  /** Stop renewing (tests; a closing node stops anyway once its connection ends). */
  stop(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
  }
}
