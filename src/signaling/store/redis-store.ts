/**
 * The mailbox in Redis, shared by every serve node of a cluster (`natpush serve --redis`).
 *
 * Writes: one Lua script per group commit (redis-scripts.ts COMMIT_LUA) — registrations,
 * notifications (dedupe by (from, to, id), the quotas of store/usage.ts, insert, route) and
 * acks, atomically, in one round trip.
 *
 * Reads: delivery reads synchronously (`pending`), so each node keeps a local copy of the
 * mailboxes of the peers connected to it — at most CLUSTER_LIMITS.localMailboxDepth entries
 * each, refilled from Redis as they drain. A peer's copy is loaded when its session `claim`s it
 * (which also routes its notifications to this node), and kept current by the commits of this
 * node and the `stored` messages other nodes' commits publish to it.
 *
 * Durability (what the 202 / `accepted` promises): a notification is accepted once Redis has
 * executed its commit script. With `appendonly yes` + `appendfsync always` Redis writes and
 * fsyncs the AOF before it answers a write, so accepted = on Redis's disk, as with SQLite: a
 * serve node or Redis may be killed and nothing accepted is lost. With `appendfsync everysec`
 * (Redis's default when AOF is on) up to about one second of accepted notifications can be lost
 * if Redis itself crashes (a serve node crash loses nothing either way). Without persistence,
 * a Redis restart loses the mailbox. `RedisStore.persistence()` reads which one is in force;
 * `natpush serve --redis` logs a warning unless it is `always`.
 *
 * Exactly once: a sender retrying after a failure (a 503, a timeout, a node killed before it
 * answered) resends the same id; (from, to, id) is the identity in Redis too, so the retry is
 * answered `duplicate` if the first attempt was stored. Delivery is at least once from the
 * server (a node dies with notifications in flight: the next node sends them again) and the
 * receiver's dedupe of ids makes it exactly once for the application — the embedded store's
 * semantics, unchanged.
 */
import type { Redis } from 'ioredis';
import { CLUSTER_LIMITS, CLUSTER_TIMING } from '../../cluster/constants.js';
import type { ClusterNode } from '../../cluster/cluster-node.js';
import type { Clock, TimerHandle } from '../../util/clock.js';
import type { Logger } from '../../util/logger.js';
import { SignalingErrorCode } from '../errors.js';
import type { Notification } from '../protocol.js';
import { REFUSAL_TEXT, storeCommands, type StoreCommands } from './redis-commands.js';
import { LocalCopies, type LocalMailbox } from './redis-local-copy.js';
import type {
  CommitBatch,
  CommitOutcome,
  CommitResult,
  Removed,
  SharedMailboxStore,
  StoredNotification,
} from './store.js';
import { notificationBytes, type StoreQuotas } from './usage.js';
import { STORE_QUOTAS } from '../constants.js';
import { PEER_EXPIRY_BATCH, peerLimits, type PeerLimits } from './peer-limits.js';
import { RedisPeers } from './redis-peers.js';

export interface RedisStoreOptions {
  cluster: ClusterNode;
  /** Override the store quotas (constants.ts STORE_QUOTAS), the same for every node. */
  quotas?: Partial<StoreQuotas>;
  /** CLUSTER_LIMITS.localMailboxDepth */
  localDepth?: number;
  /** Bounds on registrations (peer-limits.ts PEER_LIMITS), the same for every node. */
  peers?: Partial<PeerLimits>;
}

export class RedisStore implements SharedMailboxStore {
  readonly shared = true as const;
  readonly #c: ClusterNode;
  readonly #redis: Redis;
  /** The store's Lua scripts on #redis (redis-commands.ts). */
  readonly #cmd: StoreCommands;
  readonly #quotas: StoreQuotas;
  readonly #localDepth: number;
  readonly #clock: Clock;
  readonly #logger: Logger;
  /** Claimed peers' copies of their mailboxes (redis-local-copy.ts, bound there). */
  readonly #copies: LocalCopies;
  readonly #local: Map<string, LocalMailbox>;
  /** Every node's registrations (redis-peers.ts). */
  readonly #peers: RedisPeers;
  #total = 0;
  #expired = 0;
  #sweep: TimerHandle | undefined;
  #closed = false;
  onArrived: (stored: StoredNotification[]) => void = () => {};
  onRefilled: (peer: string) => void = () => {};
  onEvicted: (peer: string) => void = () => {};
  onBackgroundError?: ((what: 'checkpoint', err: string) => void) | undefined;
  readonly peerLimits: PeerLimits;
  /** Unused here: the expiry asks the cluster's routes, which know every node's sessions. */
  isLive: ((peer: string) => boolean) | undefined;
  onPeersExpired: ((peers: string[]) => void) | undefined;

  private constructor(o: RedisStoreOptions) {
    this.peerLimits = peerLimits(o.peers);
    this.#c = o.cluster;
    this.#redis = o.cluster.redis;
    this.#quotas = { ...STORE_QUOTAS, ...o.quotas };
    this.#localDepth = o.localDepth ?? CLUSTER_LIMITS.localMailboxDepth;
    this.#copies = new LocalCopies(this.#localDepth);
    this.#local = this.#copies.byPeer;
    this.#clock = o.cluster.clock;
    this.#logger = o.cluster.logger;
    this.#cmd = storeCommands(this.#redis);
    this.#peers = new RedisPeers({
      cluster: o.cluster,
      cmd: this.#cmd,
      limits: this.peerLimits,
      closed: () => this.#closed,
    });
  }

  /** Connect the store to the cluster: load the registrations, listen to the bus. */
  static async open(o: RedisStoreOptions): Promise<RedisStore> {
    const s = new RedisStore(o);
    const c = o.cluster;
    c.bus.onRegistered = (peer, key) => {
      if (s.#peers.registered(peer, key)) s.onPeersExpired?.([peer]);
    };
    c.bus.on((m) => {
      if (m.t === 's') s.#arrive(m.n, m.seq);
      else if (m.t === 'e') s.#evict(m.peer);
    });
    // Messages may have been lost while the subscriber was away, or our routes reaped.
    c.onResubscribed = () => s.reclaimAll();
    c.registry.onRevived = () => s.reclaimAll();
    await s.#peers.load(c.clock.now());
    s.#total = Number((await s.#redis.hget(c.keys.usage, 'c')) ?? 0);
    s.#scheduleSweep();
    return s;
  }

  /** Redis's persistence, as `appendonly/appendfsync` (undefined where CONFIG is disabled). */
  async persistence(): Promise<{ appendonly: string; appendfsync: string } | undefined> {
    try {
      const a = (await this.#redis.config('GET', 'appendonly')) as string[];
      const f = (await this.#redis.config('GET', 'appendfsync')) as string[];
      return { appendonly: a[1] ?? '?', appendfsync: f[1] ?? '?' };
    } catch {
      return undefined;
    }
  }

  isKnown(peer: string): boolean {
    return this.#peers.has(peer);
  }

  lookupPeer(peer: string): Promise<boolean> {
    return this.#peers.lookup(peer);
  }

  registerNow(peer: string, publicKey: string): Promise<void> {
    return this.#peers.register(peer, publicKey);
  }

  /** Fire and forget (store.ts): a lost touch only shortens the peer's idle time. */
  touchPeer(peer: string, now: number): void {
    this.#peers.touch(peer, now);
  }

  get knownCount(): number {
    return this.#peers.size;
  }

  knownPeers(): string[] {
    return this.#peers.keys();
  }

  peerKey(peer: string): string | undefined {
    return this.#peers.key(peer);
  }

  totalDepth(): number {
    return this.#total;
  }

  /** Peers claimed here whose copy is held (for tests and the memory bench). */
  get localPeers(): number {
    return this.#local.size;
  }

  depth(to: string): number {
    return this.#local.get(to)?.depth ?? 0;
  }

  pending(to: string, afterSeq: number, limit: number, now: number): StoredNotification[] {
    const l = this.#local.get(to);
    if (!l || l.loading) return [];
    const out: StoredNotification[] = [];
    if (l.list.some((s) => s.expires <= now)) l.list = l.list.filter((s) => s.expires > now);
    for (const s of l.list) {
      if (s.seq <= afterSeq) continue;
      out.push(s);
      if (out.length >= limit) return out;
    }
    // The copy ran out but Redis has more: fetch it; the delivery engine is woken when it is in.
    if (l.more) this.#refill(to, l);
    return out;
  }

  expire(): number {
    const n = this.#expired;
    this.#expired = 0;
    return n;
  }

  async commit(b: CommitBatch): Promise<CommitResult> {
    const q = this.#quotas;
    const args: (string | number)[] = [
      this.#c.keys.prefix,
      this.#c.id,
      b.mailboxQuota,
      q.perPeerSenderSlots,
      q.peerMailboxShare,
      q.maxNotifications,
      q.maxBytes,
      q.peerStoreShare,
      b.peers.length,
    ];
    for (const p of b.peers) {
      args.push(p.peer, p.publicKey, b.now);
      this.#peers.remember(p.peer, p.publicKey);
    }
    args.push(b.accepts.length);
    for (const n of b.accepts)
      args.push(n.to, n.from, n.id, n.expires, notificationBytes(n), JSON.stringify(n));
    args.push(b.acks.length);
    for (const a of b.acks) args.push(a.to, a.id, a.from ?? '');
    const [outs, rm, total] = await this.#cmd.npCommit(...args);
    this.#total = total;
    const outcomes: CommitOutcome[] = [];
    const stored: StoredNotification[] = [];
    b.accepts.forEach((n, i) => {
      const o = outs[i]!;
      if (o[0] === 'r') {
        const text = REFUSAL_TEXT[o[1]]?.(n.to, o[2], q) ?? o[1];
        outcomes.push({ kind: 'refused', code: o[1] as SignalingErrorCode, message: text });
        return;
      }
      outcomes.push({
        kind: o[0] === 'i' ? 'inserted' : 'duplicate',
        seq: o[1],
        online: o[2] === 1,
      });
      if (o[0] === 'i') {
        const s = this.#copies.take(n, o[1]);
        if (s) stored.push(s);
      }
    });
    const removed: Removed[] = rm.map(([to, id, from, node]) => {
      this.#copies.forget(to, from, id);
      return { to, id, from, ...(node ? { fromNode: node } : {}) };
    });
    return { outcomes, removed, stored };
  }

  async claim(peer: string, transport: string): Promise<void> {
    const l = LocalCopies.empty(transport);
    this.#local.set(peer, l);
    try {
      const reply = await this.#cmd.npClaim(
        this.#c.keys.prefix,
        this.#c.id,
        peer,
        transport,
        this.#localDepth,
      );
      if (this.#local.get(peer) !== l) return;
      this.#copies.loaded(l, reply);
    } catch (err) {
      if (this.#local.get(peer) === l) this.#local.delete(peer);
      throw err;
    }
  }

  release(peer: string): void {
    if (!this.#local.delete(peer) || this.#closed) return;
    this.#cmd.npRelease(this.#c.keys.prefix, this.#c.id, peer).catch((err: unknown) =>
      // The route stays until the node is reaped or the peer is claimed elsewhere: a
      // notification published to us meanwhile is in the store and finds the peer later.
      this.#logger.warn('mailbox release failed', { peer, err: String(err) }),
    );
  }

  /**
   * Claim every local peer again: after the subscriber reconnected (`stored` messages may be
   * lost) or this node was reaped (its routes deleted). Sessions stay; their copies reload.
   */
  reclaimAll(): void {
    for (const [peer, l] of this.#local) {
      l.loading = true;
      this.#cmd.npClaim(this.#c.keys.prefix, this.#c.id, peer, l.transport, this.#localDepth).then(
        (reply) => {
          if (this.#local.get(peer) !== l) return;
          // Merged with the copy (entries are taken once): what is in flight keeps its seq.
          this.#copies.loaded(l, reply);
          this.onRefilled(peer);
        },
        (err: unknown) => {
          l.loading = false;
          this.#logger.warn('mailbox reclaim failed', { peer, err: String(err) });
        },
      );
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#sweep?.cancel();
    const peers = [...this.#local.keys()];
    this.#local.clear();
    await Promise.all(
      peers.map((p) =>
        this.#cmd.npRelease(this.#c.keys.prefix, this.#c.id, p).catch(() => undefined),
      ),
    );
  }

  /** Fetch what follows the copy (it drained below what Redis holds). */
  #refill(peer: string, l: LocalMailbox): void {
    if (l.loading) return;
    l.loading = true;
    const after = Math.min(l.tail, l.dropFrom ?? l.tail);
    const room = Math.max(1, this.#localDepth - l.list.length);
    this.#cmd.npLoad(this.#c.keys.prefix, peer, after, room).then(
      (reply) => {
        if (this.#local.get(peer) !== l) return;
        this.#copies.loaded(l, reply);
        this.onRefilled(peer);
      },
      (err: unknown) => {
        l.loading = false;
        this.#logger.warn('mailbox refill failed', { peer, err: String(err) });
      },
    );
  }

  /** Another node stored `n` for a peer claimed here (bus `s`). */
  #arrive(n: Notification, rseq: number): void {
    const s = this.#copies.take(n, rseq);
    if (s) this.onArrived([s]);
  }

  #evict(peer: string): void {
    if (!this.#local.delete(peer)) return;
    this.onEvicted(peer);
  }

  #scheduleSweep(): void {
    if (this.#closed) return;
    this.#sweep = this.#clock.setTimeout(() => {
      this.sweep()
        .catch((err: unknown) =>
          this.#logger.warn('mailbox expiry sweep failed', { err: String(err) }),
        )
        .finally(() => this.#scheduleSweep());
    }, this.#c.timing.expirySweepMs);
  }

  /** One expiry sweep (the timer's; tests call it): notifications, then idle registrations. */
  async sweep(): Promise<void> {
    const now = this.#clock.now();
    const [n, total] = await this.#cmd.npExpire(
      this.#c.keys.prefix,
      now,
      CLUSTER_TIMING.expiryBatch,
    );
    this.#expired += n;
    this.#total = total;
    const ttl = this.peerLimits.ttlMs;
    if (ttl <= 0) return;
    const [m, gone, after] = await this.#cmd.npExpirePeers(
      this.#c.keys.prefix,
      now - ttl,
      now,
      PEER_EXPIRY_BATCH,
    );
    this.#expired += m;
    this.#total = after;
    // Told once per peer: the broadcast of this very sweep may have come in first.
    const forgotten = this.#peers.forget(gone);
    if (forgotten.length > 0) this.onPeersExpired?.(forgotten);
  }
}
