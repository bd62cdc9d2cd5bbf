/**
 * Rendezvous pairs in Redis: who was handed whose candidates or punch, written by every serve node
 * of a cluster and read by the fleet relays' peer gate (relay-peer-gate.ts), so that a fleet relay
 * grants a permission only toward a peer the allocation's owner is in rendezvous with — the rule
 * of serve's own gate (../signaling/rendezvous.ts), whose pairs live in one process's memory.
 *
 *   A ──candidates/punch/p2p──▶ serve node ──▶ B     ZADD rendezvous:A expiry B
 *                                                   ZADD rendezvous:B expiry A  (symmetric: B
 *                                                   answers A's candidates through the relay too)
 *
 * Each `rendezvous:{peer}` is a sorted set, partner scored by expiry (ms, wall clock), bounded
 * like serve's table: entries past their expiry are dropped, then all but the RENDEZVOUS_MAX_
 * PARTNERS_PER_PEER latest, on every write; the key itself expires RENDEZVOUS_TTL_MS after its
 * last write (PEXPIRE). A permission the relay grants re-arms the pair (ZADD XX: never a new
 * member), as serve's gate does, so a live relayed session keeps it.
 *
 * Off the hot path: `note` is called for every rendezvous frame forwarded (a punch sends several
 * candidates frames), so a pair already written by this node within `rewriteMs` is not written
 * again — a Map lookup. Both nodes of a cross-node rendezvous write the pair (the receiving node
 * when it forwards, the sender's when told, remote-presence.ts `g`); the writes are idempotent.
 * A failed write is logged and dropped: the gate then refuses, which is what it does without a
 * rendezvous (fails closed).
 *
 * Addresses, too (`seen`): where a peer's signaling connection comes from counts as seen for it,
 * as in serve's own gate (../signaling/rendezvous.ts `noteAddress`, fed the same way: at every
 * rendezvous forward, from the node that holds the connection, and when a peer is handed TURN
 * credentials). Without it a peer that never allocated on a fleet relay — its server-reflexive
 * address is the one it connects to serve from — could be reached through serve's own relay but
 * not through a fleet relay (issue 12). Written as a fleet relay writes an allocation's addresses
 * (`armSeen`: `relay-seen:{ip}`, peer → expiry, the key's PX TTL re-armed), and skipped like a
 * pair when this node wrote it within `rewriteMs`.
 */
import type { ChainableCommander, Redis } from 'ioredis';
import { RENDEZVOUS_MAX_PARTNERS_PER_PEER, RENDEZVOUS_TTL_MS } from '../relay/constants.js';
import { systemClock, type Clock } from '../util/clock.js';
import { silentLogger, type Logger } from '../util/logger.js';
import { ARM_SEEN_LUA } from './cluster-scripts.js';
import { RELAY_SEEN } from './constants.js';
import type { ClusterKeys } from './keys.js';

export const RENDEZVOUS_PAIRS = {
  /** A pair lives this long after its last write or grant: serve's rendezvous TTL. */
  ttlMs: RENDEZVOUS_TTL_MS,
  /** Partners kept per peer (the latest): serve's bound. */
  maxPartners: RENDEZVOUS_MAX_PARTNERS_PER_PEER,
  /** A pair this node wrote within this long is not written again: a quarter of the TTL, so a
   *  pair in use by signaling is never within 3/4 TTL of expiring because of the skip. */
  rewriteMs: RENDEZVOUS_TTL_MS / 4,
  /** Pairs remembered as recently written; when full the table is cleared (forgetting costs
   *  one write). 20,000 × ~200 bytes ≈ 4 MB at most. */
  maxRecent: 20_000,
  /** Peers kept per seen IP (`relay-seen:{ip}`): constants.ts RELAY_SEEN. */
  maxSeenPerIp: RELAY_SEEN.maxPeersPerIp,
} as const;

export type RendezvousPairsLimits = { [K in keyof typeof RENDEZVOUS_PAIRS]: number };

/**
 * `peer` was seen at `ip` until `expiry` (ms): the one place that writes `relay-seen:{ip}`
 * (keys.ts), for fleet relays' allocations (relay-peer-gate.ts) and serve nodes' connections.
 * The key lives `ttlMs` after its last write and holds at most `maxPeers` fields (ARM_SEEN_LUA:
 * past it the expired, then the soonest to expire, go; constants.ts RELAY_SEEN); expired fields
 * are also deleted by the gate's lookups.
 */
export function armSeen(
  m: ChainableCommander,
  keys: ClusterKeys,
  seen: { ip: string; peer: string; expiry: number; now: number },
  limits: { ttlMs: number; maxPeers: number },
): void {
  m.eval(
    ARM_SEEN_LUA,
    1,
    keys.relaySeen(seen.ip),
    seen.peer,
    String(seen.expiry),
    String(limits.ttlMs),
    String(limits.maxPeers),
    String(seen.now),
  );
}

export class RendezvousPairs {
  /** Pair writes sent to Redis (for tests and metrics). */
  writes = 0;
  /** Seen-address writes sent to Redis (for tests and metrics). */
  seenWrites = 0;
  readonly #redis: Redis;
  readonly #keys: ClusterKeys;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #l: RendezvousPairsLimits;
  /** `a\nb` (a < b) → when this node last wrote the pair, `peer@ip` → when it last wrote the
   *  address; bounded by maxRecent. */
  readonly #recent = new Map<string, number>();

  constructor(o: {
    redis: Redis;
    keys: ClusterKeys;
    clock?: Clock;
    logger?: Logger;
    limits?: Partial<RendezvousPairsLimits>;
  }) {
    this.#redis = o.redis;
    this.#keys = o.keys;
    this.#clock = o.clock ?? systemClock;
    this.#log = o.logger ?? silentLogger;
    this.#l = { ...RENDEZVOUS_PAIRS, ...o.limits };
    for (const [k, v] of Object.entries(this.#l)) {
      if (!(v >= 1) || v === Infinity) throw new RangeError(`${k} must be a finite number >= 1`);
    }
  }

  /** `from` and `to` are in rendezvous (a frame between them was forwarded). Never throws. */
  note(from: string, to: string): void {
    void this.write(from, to);
  }

  /** `note`, awaitable (tests; the bench). Resolves once Redis has the pair, or the write failed. */
  async write(from: string, to: string): Promise<void> {
    if (from === to) return;
    const pair = from < to ? `${from}\n${to}` : `${to}\n${from}`;
    const now = this.#clock.now();
    if (!this.#fresh(pair, now)) return;
    this.writes++;
    const m = this.#redis.multi();
    for (const [a, b] of [
      [from, to],
      [to, from],
    ] as const) {
      const key = this.#keys.rendezvous(a);
      m.zadd(key, now + this.#l.ttlMs, b);
      m.zremrangebyscore(key, '-inf', now);
      m.zremrangebyrank(key, 0, -(this.#l.maxPartners + 1));
      m.pexpire(key, this.#l.ttlMs);
    }
    await m.exec().catch((err: unknown) => {
      this.#recent.delete(pair);
      this.#log.warn('rendezvous pair not written to redis', { err: String(err) });
    });
  }

  /** `peer` was seen at `ip` (a canonical IP: its signaling connection's). Never throws. */
  seen(peer: string, ip: string): void {
    void this.writeSeen(peer, ip);
  }

  /** `seen`, awaitable (tests). Resolves once Redis has it, or the write failed. */
  async writeSeen(peer: string, ip: string): Promise<void> {
    const key = `${peer}@${ip}`;
    const now = this.#clock.now();
    if (!this.#fresh(key, now)) return;
    this.seenWrites++;
    const m = this.#redis.multi();
    armSeen(
      m,
      this.#keys,
      { ip, peer, expiry: now + this.#l.ttlMs, now },
      { ttlMs: this.#l.ttlMs, maxPeers: this.#l.maxSeenPerIp },
    );
    await m.exec().catch((err: unknown) => {
      this.#recent.delete(key);
      this.#log.warn('seen address not written to redis', { err: String(err) });
    });
  }

  /** True (and remembered as written now) unless `key` was written within rewriteMs. */
  #fresh(key: string, now: number): boolean {
    const last = this.#recent.get(key);
    if (last !== undefined && now - last < this.#l.rewriteMs) return false;
    if (this.#recent.size >= this.#l.maxRecent) this.#recent.clear();
    this.#recent.set(key, now);
    return true;
  }
}
