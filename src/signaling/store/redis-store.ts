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
import {
  COMMIT_LUA,
  CLAIM_LUA,
  EXPIRE_LUA,
  LOAD_LUA,
  REGISTER_LUA,
  RELEASE_LUA,
} from './redis-scripts.js';
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

export interface RedisStoreOptions {
  cluster: ClusterNode;
  /** Override the store quotas (constants.ts STORE_QUOTAS), the same for every node. */
  quotas?: Partial<StoreQuotas>;
  /** CLUSTER_LIMITS.localMailboxDepth */
  localDepth?: number;
}

/**
 * An entry of a local copy. `seq` is this node's own sequence, given as entries enter the copy,
 * so delivery sees seqs grow in arrival order (its cursor relies on it); `rseq` is Redis's, which
 * may arrive out of order here (this node's commit answers and other nodes' `stored` messages
 * come on two connections).
 */
interface LocalEntry extends StoredNotification {
  rseq: number;
}

/** One claimed peer's local copy of its mailbox. */
interface LocalMailbox {
  /** In local seq order; ≤ localDepth entries. */
  list: LocalEntry[];
  /** Highest seq ever copied: refills read after it (so expired or acked ones are not re-read). */
  tail: number;
  /** Redis holds entries after `tail` (not copied: the copy was full). */
  more: boolean;
  /** Lowest Redis seq − 1 of an entry left out while the copy was full: the refill reads from there. */
  dropFrom: number | undefined;
  transport: string;
  /** Entries stored in Redis (ZCARD at load, then kept by commits and arrivals). */
  depth: number;
  /** A claim or refill in flight: arrivals meanwhile wait here, merged when it answers. */
  loading: boolean;
  arrived: LocalEntry[];
}

/**
 * Redis seqs recently removed from local copies (acked), so that a late `stored` message of one
 * of them is not taken as new. Bound: 4,096 entries (FIFO), a few hundred KB.
 */
const RECENTLY_GONE_MAX = 4_096;

type Outcome = ['i' | 'd', number, number] | ['r', string, string];
type CommitReply = [Outcome[], [string, string, string, string][], number];

const REFUSAL_TEXT: Record<string, (to: string, which: string, q: StoreQuotas) => string> = {
  NATPUSH_ERR_UNKNOWN_PEER: (to) => `peer ${to} has never registered here`,
  NATPUSH_ERR_STORE_QUOTA: (_to, which, q) =>
    `the server's mailbox store is full (${which === 'peer' ? 'peer share of ' : ''}quota ${q.maxNotifications} notifications / ${q.maxBytes} bytes); retry later`,
  NATPUSH_ERR_MAILBOX_FULL: (to, which) =>
    which === 'peer'
      ? `mailbox of ${to} is full for peers; retry after it drains`
      : `mailbox of ${to} is full; retry after it drains`,
  NATPUSH_ERR_SENDER_QUOTA: (to, _w, q) =>
    `you already have ${q.perPeerSenderSlots} notifications waiting in the mailbox of ${to}; retry after it drains`,
};

export class RedisStore implements SharedMailboxStore {
  readonly shared = true as const;
  readonly #c: ClusterNode;
  readonly #redis: Redis;
  readonly #quotas: StoreQuotas;
  readonly #localDepth: number;
  readonly #clock: Clock;
  readonly #logger: Logger;
  /** Claimed peers (sessions here). Bound: delivery routes (maxConnections + maxPollSessions). */
  readonly #local = new Map<string, LocalMailbox>();
  /**
   * Registered peers → public key, every node's (loaded at start, then the `registered`
   * broadcast). Bound: registered peers, as the embedded Mailbox's `#known` (one entry each).
   */
  readonly #known = new Map<string, string>();
  readonly #gone = new Set<number>();
  #localSeq = 0;
  #total = 0;
  #expired = 0;
  #sweep: TimerHandle | undefined;
  #closed = false;
  onArrived: (stored: StoredNotification[]) => void = () => {};
  onRefilled: (peer: string) => void = () => {};
  onEvicted: (peer: string) => void = () => {};
  onBackgroundError?: ((what: 'checkpoint', err: string) => void) | undefined;

  private constructor(o: RedisStoreOptions) {
    this.#c = o.cluster;
    this.#redis = o.cluster.redis;
    this.#quotas = { ...STORE_QUOTAS, ...o.quotas };
    this.#localDepth = o.localDepth ?? CLUSTER_LIMITS.localMailboxDepth;
    this.#clock = o.cluster.clock;
    this.#logger = o.cluster.logger;
    const r = this.#redis;
    r.defineCommand('npCommit', { numberOfKeys: 0, lua: COMMIT_LUA });
    r.defineCommand('npClaim', { numberOfKeys: 0, lua: CLAIM_LUA });
    r.defineCommand('npLoad', { numberOfKeys: 0, lua: LOAD_LUA });
    r.defineCommand('npRelease', { numberOfKeys: 0, lua: RELEASE_LUA });
    r.defineCommand('npExpire', { numberOfKeys: 0, lua: EXPIRE_LUA });
    r.defineCommand('npRegister', { numberOfKeys: 0, lua: REGISTER_LUA });
  }

  /** Connect the store to the cluster: load the registrations, listen to the bus. */
  static async open(o: RedisStoreOptions): Promise<RedisStore> {
    const s = new RedisStore(o);
    const c = o.cluster;
    c.bus.onRegistered = (peer, key) => s.#known.set(peer, key);
    c.bus.on((m) => {
      if (m.t === 's') s.#arrive(m.n, m.seq);
      else if (m.t === 'e') s.#evict(m.peer);
    });
    // Messages may have been lost while the subscriber was away, or our routes reaped.
    c.onResubscribed = () => s.reclaimAll();
    c.registry.onRevived = () => s.reclaimAll();
    let cursor = '0';
    do {
      const [next, kv] = await s.#redis.hscan(c.keys.peers, cursor, 'COUNT', 1000);
      for (let i = 0; i + 1 < kv.length; i += 2) s.#known.set(kv[i]!, kv[i + 1]!);
      cursor = next;
    } while (cursor !== '0');
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
    return this.#known.has(peer);
  }

  async lookupPeer(peer: string): Promise<boolean> {
    if (this.#known.has(peer)) return true;
    const key = await this.#redis.hget(this.#c.keys.peers, peer);
    if (key !== null) this.#known.set(peer, key);
    return key !== null;
  }

  registerNow(peer: string, publicKey: string): Promise<void> {
    // The caller (mailbox.ts) makes a second registration of the same peer wait for this one.
    if (this.#known.has(peer)) return Promise.resolve();
    this.#known.set(peer, publicKey);
    return (this.#redis as unknown as { npRegister(...a: string[]): Promise<unknown> })
      .npRegister(this.#c.keys.prefix, peer, publicKey)
      .then(
        () => undefined,
        (err: unknown) => {
          // Unknown elsewhere until it registers again (every reconnect does): logged, and the
          // connection waiting for its `welcome` is refused (the client reconnects).
          this.#known.delete(peer);
          this.#logger.warn('registration write failed', { peer, err: String(err) });
          throw err;
        },
      );
  }

  get knownCount(): number {
    return this.#known.size;
  }

  knownPeers(): string[] {
    return [...this.#known.keys()];
  }

  peerKey(peer: string): string | undefined {
    return this.#known.get(peer);
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
      args.push(p.peer, p.publicKey);
      this.#known.set(p.peer, p.publicKey);
    }
    args.push(b.accepts.length);
    for (const n of b.accepts)
      args.push(n.to, n.from, n.id, n.expires, notificationBytes(n), JSON.stringify(n));
    args.push(b.acks.length);
    for (const a of b.acks) args.push(a.to, a.id, a.from ?? '');
    const [outs, rm, total] = (await (
      this.#redis as unknown as { npCommit(...a: (string | number)[]): Promise<unknown> }
    ).npCommit(...args)) as CommitReply;
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
        const s = this.#take(n, o[1]);
        if (s) stored.push(s);
      }
    });
    const removed: Removed[] = rm.map(([to, id, from, node]) => {
      this.#forget(to, from, id);
      return { to, id, from, ...(node ? { fromNode: node } : {}) };
    });
    return { outcomes, removed, stored };
  }

  async claim(peer: string, transport: string): Promise<void> {
    const l: LocalMailbox = {
      list: [],
      tail: 0,
      more: false,
      dropFrom: undefined,
      transport,
      depth: 0,
      loading: true,
      arrived: [],
    };
    this.#local.set(peer, l);
    try {
      const reply = (await (
        this.#redis as unknown as { npClaim(...a: (string | number)[]): Promise<string[]> }
      ).npClaim(this.#c.keys.prefix, this.#c.id, peer, transport, this.#localDepth)) as (
        string | number
      )[];
      if (this.#local.get(peer) !== l) return;
      this.#loaded(l, reply);
    } catch (err) {
      if (this.#local.get(peer) === l) this.#local.delete(peer);
      throw err;
    }
  }

  release(peer: string): void {
    if (!this.#local.delete(peer) || this.#closed) return;
    (this.#redis as unknown as { npRelease(...a: string[]): Promise<unknown> })
      .npRelease(this.#c.keys.prefix, this.#c.id, peer)
      .catch((err: unknown) =>
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
      (this.#redis as unknown as { npClaim(...a: (string | number)[]): Promise<unknown> })
        .npClaim(this.#c.keys.prefix, this.#c.id, peer, l.transport, this.#localDepth)
        .then(
          (reply) => {
            if (this.#local.get(peer) !== l) return;
            // Merged with the copy (entries are taken once): what is in flight keeps its seq.
            this.#loaded(l, reply as (string | number)[]);
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
        (this.#redis as unknown as { npRelease(...a: string[]): Promise<unknown> })
          .npRelease(this.#c.keys.prefix, this.#c.id, p)
          .catch(() => undefined),
      ),
    );
  }

  /** A claim's or refill's reply: `[seq, value]*, more` merged with what arrived meanwhile. */
  #loaded(l: LocalMailbox, reply: (string | number)[]): void {
    const more = Number(reply[reply.length - 1]) === 1;
    for (let i = 0; i + 1 < reply.length; i += 2) {
      const seq = Number(reply[i]);
      const v = String(reply[i + 1]);
      if (v === '' || this.#gone.has(seq) || l.list.some((x) => x.rseq === seq)) continue;
      const n = JSON.parse(v.slice(v.indexOf('\n') + 1)) as Notification;
      l.list.push({ ...n, seq: ++this.#localSeq, rseq: seq });
      l.tail = Math.max(l.tail, seq);
    }
    l.more = more;
    l.dropFrom = undefined;
    l.loading = false;
    // What arrived during the load: in the reply already, or after it (kept if the copy has
    // everything up to it — otherwise it is in Redis beyond the copy and the next refill reads it).
    for (const s of l.arrived) this.#append(l, s);
    l.arrived = [];
    l.depth = Math.max(l.depth, l.list.length);
  }

  /** Fetch what follows the copy (it drained below what Redis holds). */
  #refill(peer: string, l: LocalMailbox): void {
    if (l.loading) return;
    l.loading = true;
    const after = Math.min(l.tail, l.dropFrom ?? l.tail);
    const room = Math.max(1, this.#localDepth - l.list.length);
    (this.#redis as unknown as { npLoad(...a: (string | number)[]): Promise<unknown> })
      .npLoad(this.#c.keys.prefix, peer, after, room)
      .then(
        (reply) => {
          if (this.#local.get(peer) !== l) return;
          this.#loaded(l, reply as (string | number)[]);
          this.onRefilled(peer);
        },
        (err: unknown) => {
          l.loading = false;
          this.#logger.warn('mailbox refill failed', { peer, err: String(err) });
        },
      );
  }

  /**
   * Redis stored `n` as `rseq` (this node's commit, or another's `stored` message): into the
   * local copy if its recipient is claimed here. Returns the entry when delivery may send it now.
   */
  #take(n: Notification, rseq: number): LocalEntry | undefined {
    const l = this.#local.get(n.to);
    if (!l || this.#gone.has(rseq)) return undefined;
    l.depth++;
    const s: LocalEntry = { ...n, seq: 0, rseq };
    if (l.loading) {
      l.arrived.push(s);
      return undefined;
    }
    return this.#append(l, s) ? s : undefined;
  }

  /** Another node stored `n` for a peer claimed here (bus `s`). */
  #arrive(n: Notification, rseq: number): void {
    const s = this.#take(n, rseq);
    if (s) this.onArrived([s]);
  }

  /**
   * Append if the copy is complete and has room (else it stays for a refill, which reads Redis
   * in order). Redis seqs may arrive out of order; each is taken once.
   */
  #append(l: LocalMailbox, s: LocalEntry): boolean {
    if (l.list.some((x) => x.rseq === s.rseq)) return false;
    if (l.more || l.list.length >= this.#localDepth) {
      l.more = true;
      l.dropFrom = Math.min(l.dropFrom ?? Infinity, s.rseq - 1);
      return false;
    }
    s.seq = ++this.#localSeq;
    l.list.push(s);
    l.tail = Math.max(l.tail, s.rseq);
    return true;
  }

  #forget(to: string, from: string, id: string): void {
    const l = this.#local.get(to);
    if (!l) return;
    const i = l.list.findIndex((x) => x.id === id && x.from === from);
    if (i >= 0) {
      this.#gone.add(l.list[i]!.rseq);
      if (this.#gone.size > RECENTLY_GONE_MAX) this.#gone.delete(this.#gone.values().next().value!);
      l.list.splice(i, 1);
    }
    l.depth = Math.max(0, l.depth - 1);
  }

  #evict(peer: string): void {
    if (!this.#local.delete(peer)) return;
    this.onEvicted(peer);
  }

  #scheduleSweep(): void {
    if (this.#closed) return;
    this.#sweep = this.#clock.setTimeout(() => {
      (this.#redis as unknown as { npExpire(...a: (string | number)[]): Promise<unknown> })
        .npExpire(this.#c.keys.prefix, this.#clock.now(), CLUSTER_TIMING.expiryBatch)
        .then(
          (r) => {
            const [n, total] = r as [number, number];
            this.#expired += n;
            this.#total = total;
          },
          (err: unknown) => this.#logger.warn('mailbox expiry sweep failed', { err: String(err) }),
        )
        .finally(() => this.#scheduleSweep());
    }, this.#c.timing.expirySweepMs);
  }
}
