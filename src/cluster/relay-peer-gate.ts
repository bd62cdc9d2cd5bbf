/**
 * The peer gate of a fleet relay (`natpush relay --redis`; issue 12): what serve's own relay does
 * with its rendezvous table (src/relay/peer-gate.ts, src/signaling/rendezvous.ts), done with the
 * cluster's shared state in Redis, so that a relay serve nodes hand out relays only between
 * registered peers in rendezvous, and not from any credential holder to any host on the internet.
 *
 *   A and B exchange candidates through serve        ZADD rendezvous:A expiry B (and B → A;
 *                                                   any serve node: rendezvous-pairs.ts)
 *   B allocates on any fleet relay from 198.51.100.7 HSET relay-seen:198.51.100.7 B expiry
 *   (its client source, and its relayed address)      HSET relay-seen:{relayed ip} B expiry
 *   B's signaling connection, from 198.51.100.7      HSET relay-seen:198.51.100.7 B expiry
 *   (at a rendezvous forward or TURN credentials:     (any serve node: rendezvous-pairs.ts
 *   what serve's own gate counts as seen)             `seen`)
 *   A: CreatePermission 198.51.100.7 ──▶ relay        HEXISTS peers A (A registered?)
 *                                                     HGETALL relay-seen:198.51.100.7
 *                                                     ZRANGEBYSCORE rendezvous:A now +inf
 *                                                     a partner of A seen there within the TTL
 *                                                     → granted (pair and address re-armed)
 *   A: CreatePermission toward carol (registered,    carol is not A's partner → 403
 *      allocated, never in rendezvous with A)
 *   A: CreatePermission 8.8.8.8                       no peer was seen there → 403
 *
 * The rule of serve's own gate (src/signaling/rendezvous.ts): the allocation's owner (the TURN
 * REST username's peer id) reaches only peers it is in rendezvous with, at an address a relay
 * observed for them (an allocation's authenticated client source and its relayed address) or a
 * serve node observed (their signaling connection's remote address), never a claim: the same
 * addresses serve's own gate admits. One round trip (MULTI) per verdict, as before the pairs were checked. Serve nodes
 * older than the pairs write none: a fleet relay with this gate then refuses every permission, so
 * upgrade the serve nodes first (or run the relays with `--no-peer-gate` meanwhile).
 *
 * The relay's request handlers are synchronous: `prepare()` (awaited by the dispatcher before a
 * CreatePermission or ChannelBind, relay/server/dispatch.ts) makes the Redis round trip and
 * leaves the verdict in a bounded cache, which `allows()` reads. A noted allocation is written
 * before its Allocate is answered, so its peer's CreatePermission never races the write.
 *
 * **A Redis outage fails closed, with one exception.** A new grant needs Redis: the gate exists
 * because serve hands credentials to any registered key pair (with open registration, anyone), and
 * failing open would turn an outage — which an attacker may be able to wait for or cause — into an
 * open relay. Little is lost by it: with Redis down the serve nodes cannot route signaling either,
 * so no new session is being set up. The exception keeps running sessions alive: a grant that
 * Redis confirmed within `staleMs` (10 min: two permission lifetimes, RFC 8656 §9) is granted
 * again while Redis does not answer, so permission refreshes of established relayed sessions go
 * on through a Redis restart. A lookup that takes longer than `timeoutMs` counts as an outage.
 */
import { isIP } from 'node:net';
import { Redis } from 'ioredis';
import type { Endpoint } from '../net/index.js';
import { RENDEZVOUS_TTL_MS } from '../relay/constants.js';
import type { RelayPeerGate } from '../relay/peer-gate.js';
import { systemClock, type Clock } from '../util/clock.js';
import { silentLogger, type Logger } from '../util/logger.js';
import { ClusterKeys, DEFAULT_PREFIX } from './keys.js';
import { parseRedisUrl } from './redis-options.js';
import { RELAY_SEEN } from './constants.js';
import { armSeen } from './rendezvous-pairs.js';

/** The gate's limits (STYLE.md §5), each with its reason. */
export const FLEET_PEER_GATE = {
  /** How long a peer stays "seen" at an address, and a pair in rendezvous, after its allocation
   *  (its write) or its last granted use: serve's rendezvous TTL, longer than a permission's
   *  lifetime plus its refresh margin. */
  seenTtlMs: RENDEZVOUS_TTL_MS,
  /** A granted verdict is asked of Redis again after this: a peer that deregistered or was not
   *  seen for the TTL loses the relay within half a minute. */
  freshMs: 30_000,
  /** A refusal is cached this long: a client spraying CreatePermission at one address costs
   *  one Redis round trip a second, and an address a peer allocates from becomes usable soon. */
  negativeMs: 1_000,
  /** A grant Redis confirmed this recently is granted again while Redis does not answer (the
   *  one exception to failing closed, header): two permission lifetimes. */
  staleMs: 10 * 60_000,
  /** A Redis answer slower than this counts as an outage (fail closed). */
  timeoutMs: 1_000,
  /** Verdicts cached: (user, address) pairs; when full the oldest-inserted half is forgotten
   *  (forgetting only costs a round trip). 50,000 × ~150 bytes ≈ 7.5 MB at most. */
  maxEntries: 50_000,
  /** Peers kept per seen IP (`relay-seen:{ip}`): constants.ts RELAY_SEEN. */
  maxSeenPerIp: RELAY_SEEN.maxPeersPerIp,
} as const;

export type FleetPeerGateLimits = { [K in keyof typeof FLEET_PEER_GATE]: number };

export interface FleetPeerGateOptions {
  /** A connected client; the gate closes it in close() when `ownsRedis`. */
  redis: Redis;
  ownsRedis?: boolean;
  keys?: ClusterKeys;
  clock?: Clock;
  logger?: Logger;
  limits?: Partial<FleetPeerGateLimits>;
}

interface Verdict {
  allowed: boolean;
  /** allows() answers `allowed` until then; prepare() asks Redis again after. */
  until: number;
  /** For a grant: Redis confirmed it at this time (the outage exception). */
  confirmedAt: number;
}

export interface FleetPeerGateStats {
  lookups: number;
  granted: number;
  refused: number;
  /** Lookups or writes that failed or timed out (Redis outage). */
  redisErrors: number;
  /** Grants made from a recent confirmation while Redis did not answer. */
  staleGrants: number;
}

export class FleetPeerGate implements RelayPeerGate {
  readonly stats: FleetPeerGateStats = {
    lookups: 0,
    granted: 0,
    refused: 0,
    redisErrors: 0,
    staleGrants: 0,
  };
  readonly #redis: Redis;
  readonly #owns: boolean;
  readonly #keys: ClusterKeys;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #l: FleetPeerGateLimits;
  /** `user\nip` → verdict; bounded by maxEntries. */
  readonly #verdicts = new Map<string, Verdict>();

  constructor(o: FleetPeerGateOptions) {
    this.#redis = o.redis;
    this.#owns = o.ownsRedis ?? false;
    this.#keys = o.keys ?? new ClusterKeys(DEFAULT_PREFIX);
    this.#clock = o.clock ?? systemClock;
    this.#log = o.logger ?? silentLogger;
    this.#l = { ...FLEET_PEER_GATE, ...o.limits };
    for (const [k, v] of Object.entries(this.#l)) {
      if (!(v >= 1) || v === Infinity) throw new RangeError(`${k} must be a finite number >= 1`);
    }
  }

  /** Verdicts cached now (at most maxEntries). */
  get size(): number {
    return this.#verdicts.size;
  }

  /** Written before the Allocate is answered (awaited by the handler); never rejects. */
  async noteAllocation(user: string, client: Endpoint, relayed: Endpoint): Promise<void> {
    const ips = new Set([canonicalIp(client.address), canonicalIp(relayed.address)]);
    ips.delete(undefined);
    if (ips.size === 0) return;
    const now = this.#clock.now();
    const expiry = now + this.#l.seenTtlMs;
    const m = this.#redis.multi();
    for (const ip of ips) this.#arm(m, ip!, user, expiry, now);
    await this.#bounded(m.exec()).catch((err: unknown) => {
      this.stats.redisErrors++;
      this.#log.warn('fleet peer gate: noting an allocation failed', { err: String(err) });
    });
  }

  allows(user: string, peerAddress: string): boolean {
    const ip = canonicalIp(peerAddress);
    if (ip === undefined) return false;
    const v = this.#verdicts.get(`${user}\n${ip}`);
    return v !== undefined && v.allowed && this.#clock.now() < v.until;
  }

  /** Ask Redis about each address whose verdict is not fresh; never rejects. */
  async prepare(user: string, peerAddresses: readonly string[]): Promise<void> {
    const ips = new Set(peerAddresses.map(canonicalIp));
    ips.delete(undefined);
    await Promise.all([...ips].map((ip) => this.#decide(user, ip!)));
  }

  async close(): Promise<void> {
    this.#verdicts.clear();
    if (this.#owns) await this.#redis.quit().catch(() => this.#redis.disconnect());
  }

  async #decide(user: string, ip: string): Promise<void> {
    const key = `${user}\n${ip}`;
    const before = this.#verdicts.get(key);
    if (before !== undefined && this.#clock.now() < before.until) return;
    this.stats.lookups++;
    let seenBy: string[];
    try {
      seenBy = await this.#bounded(this.#lookup(user, ip));
    } catch (err) {
      this.stats.redisErrors++;
      this.#log.warn('fleet peer gate: redis lookup failed; refusing new grants', {
        err: String(err),
      });
      const now = this.#clock.now();
      if (before?.allowed && now - before.confirmedAt < this.#l.staleMs) {
        // The outage exception (header): a recent grant stands, for this request.
        this.stats.staleGrants++;
        before.until = now + this.#l.negativeMs;
        return;
      }
      this.#verdicts.delete(key);
      return;
    }
    const now = this.#clock.now();
    const allowed = seenBy.length > 0;
    if (allowed) {
      this.stats.granted++;
      // In use: the partners seen there stay seen and in rendezvous with `user`, both ways (as
      // serve's rendezvous re-arms on use); XX only refreshes, so the pairs' bound holds.
      const m = this.#redis.multi();
      const expiry = now + this.#l.seenTtlMs;
      for (const peer of seenBy) {
        this.#arm(m, ip, peer, expiry, now);
        for (const [a, b] of [
          [user, peer],
          [peer, user],
        ] as const) {
          m.zadd(this.#keys.rendezvous(a), 'XX', expiry, b);
          m.pexpire(this.#keys.rendezvous(a), this.#l.seenTtlMs);
        }
      }
      m.exec().catch(() => {});
    } else {
      this.stats.refused++;
    }
    this.#remember(key, {
      allowed,
      until: now + (allowed ? this.#l.freshMs : this.#l.negativeMs),
      confirmedAt: allowed ? now : 0,
    });
  }

  /** The peers in rendezvous with `user` seen at `ip` within the TTL ([] when `user` is not a
   *  registered peer); expired fields are deleted on the way. */
  async #lookup(user: string, ip: string): Promise<string[]> {
    const now = this.#clock.now();
    const res = await this.#redis
      .multi()
      .hexists(this.#keys.peers, user)
      .hgetall(this.#keys.relaySeen(ip))
      .zrangebyscore(this.#keys.rendezvous(user), now, '+inf')
      .exec();
    if (res === null) throw new Error('transaction aborted');
    for (const [err] of res) if (err) throw err;
    const registered = res[0]![1] === 1;
    const seen = (res[1]![1] ?? {}) as Record<string, string>;
    const partners = new Set(res[2]![1] as string[]);
    const live: string[] = [];
    const expired: string[] = [];
    for (const [peer, expiry] of Object.entries(seen)) {
      if (!(Number(expiry) > now)) expired.push(peer);
      else if (peer !== user && partners.has(peer)) live.push(peer);
    }
    if (expired.length > 0) this.#redis.hdel(this.#keys.relaySeen(ip), ...expired).catch(() => {});
    return registered ? live : [];
  }

  #arm(m: ReturnType<Redis['multi']>, ip: string, peer: string, expiry: number, now: number) {
    armSeen(
      m,
      this.#keys,
      { ip, peer, expiry, now },
      { ttlMs: this.#l.seenTtlMs, maxPeers: this.#l.maxSeenPerIp },
    );
  }

  #remember(key: string, v: Verdict): void {
    this.#verdicts.delete(key);
    if (this.#verdicts.size >= this.#l.maxEntries) {
      let n = this.#verdicts.size >> 1 || 1;
      for (const k of this.#verdicts.keys()) {
        this.#verdicts.delete(k);
        if (--n === 0) break;
      }
    }
    this.#verdicts.set(key, v);
  }

  /** `p`, or a rejection after timeoutMs (a Redis that does not answer is an outage). */
  #bounded<T>(p: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = this.#clock.setTimeout(
        () => reject(new Error(`no answer from redis in ${this.#l.timeoutMs} ms`)),
        this.#l.timeoutMs,
      );
      p.then(
        (v) => {
          timer.cancel();
          resolve(v);
        },
        (err: unknown) => {
          timer.cancel();
          reject(err as Error);
        },
      );
    });
  }
}

/**
 * The gate of `natpush relay --redis`: its own connection, which fails a command at once while
 * Redis is unreachable (no offline queue: a refusal now, not a request held until a reconnect).
 */
export async function openFleetPeerGate(o: {
  redisUrl: string;
  logger?: Logger;
  prefix?: string;
}): Promise<FleetPeerGate> {
  const t = parseRedisUrl(o.redisUrl);
  const options = {
    ...t.options,
    connectionName: 'natpush-relay-peer-gate',
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: (times: number) => Math.min(50 * times, 1_000),
    lazyConnect: true,
  };
  const redis = t.url ? new Redis(t.url, options) : new Redis(options);
  let lastError = '';
  redis.on('error', (err: Error) => {
    if (err.message === lastError) return;
    lastError = err.message;
    o.logger?.warn('fleet peer gate: redis connection error', { err: err.message });
  });
  try {
    await redis.connect();
  } catch (err) {
    redis.disconnect();
    throw err;
  }
  return new FleetPeerGate({
    redis,
    ownsRedis: true,
    keys: new ClusterKeys(o.prefix ?? DEFAULT_PREFIX),
    ...(o.logger ? { logger: o.logger } : {}),
  });
}

/** IPv4-mapped IPv6 is the IPv4 address; anything that is not an IP is undefined. */
function canonicalIp(address: string): string | undefined {
  const lower = address.toLowerCase();
  if (lower.startsWith('::ffff:') && isIP(lower.slice(7)) === 4) return lower.slice(7);
  return isIP(lower) !== 0 ? lower : undefined;
}
