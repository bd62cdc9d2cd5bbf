/**
 * The relays a serve node hands to its peers, and the pick (turn-credentials.ts asks `pick`):
 *
 * - registered: `natpush relay --redis` processes (relay-registration.ts). The node re-reads
 *   `relays` + `relay:{id}` every `refreshMs`; a relay whose record expired (dead for `ttlMs`)
 *   is out of the next pick. Load: the allocations and packets/s it reports.
 * - static: `--turn-url` (repeatable), e.g. an existing coturn fleet sharing `--turn-secret`
 *   (coturn `use-auth-secret`: the same TURN REST credentials). URLs of one host:port are one
 *   relay. Load is unknown, so it is estimated: credentials this node handed for it within a
 *   credential lifetime (each may hold one allocation), times the number of serve nodes (each
 *   hands out its share).
 * - local: serve's own relay, when it runs one (its URLs name the address the peer reached).
 *
 * `pick` is synchronous (the `turn-credentials` reply must not wait on Redis): it reads the
 * snapshot of the last refresh. While Redis is away the snapshot is kept as it is: relays cannot
 * report then either, so an outage says nothing about them (the node is not ready meanwhile,
 * /readyz 503); the first read after it drops the relays whose record expired.
 */
import type { Clock, TimerHandle } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import type { ClusterKeys } from './keys.js';
import type { Redis } from 'ioredis';
import { RELAY_FLEET } from './constants.js';
import { chooseRelay, DecayingCount, type RelayCandidate } from './relay-choice.js';
import {
  decodeRelayRecord,
  isTurnUri,
  turnServerKey,
  udpFirst,
  type RelayRecord,
} from './relay-record.js';

export type RelayKind = 'registered' | 'static' | 'local';

export type FleetTiming = Record<keyof typeof RELAY_FLEET, number>;

/** serve's own relay as a member of the fleet. */
export interface LocalRelay {
  urls(connectedTo: string): string[];
  allocations(): number;
}

export interface RelayFleetOptions {
  /** Registered relays are read from here (serve --redis); none without it. */
  redis?: { redis: Redis; keys: ClusterKeys };
  /** `--turn-url` values. */
  turnUrls?: readonly string[];
  local?: LocalRelay;
  /** This node's region label (`--region`): relays of the same region are preferred. */
  region?: string | undefined;
  /** Lifetime of the credentials handed out (the static relays' load estimate). */
  credentialTtlMs: number;
  timing?: Partial<FleetTiming>;
  clock: Clock;
  logger: Logger;
}

interface Member {
  id: string;
  kind: RelayKind;
  region?: string | undefined;
  urls: (connectedTo: string) => string[];
  /** Load other than the credentials handed here lately. */
  base: () => number;
  recent: DecayingCount;
}

/** What /metrics shows of one relay in rotation. */
export interface RelayView {
  id: string;
  kind: RelayKind;
  region?: string | undefined;
  allocations: number;
  pps: number;
  score: number;
}

export class RelayFleet {
  readonly #o: RelayFleetOptions;
  readonly #t: FleetTiming;
  readonly #static: Member[] = [];
  readonly #local: Member | undefined;
  /** Registered relays of the last successful read of the fleet. */
  readonly #registered = new Map<string, { r: RelayRecord; m: Member }>();
  /** Peer → the relay it was handed last and when (RELAY_FLEET.maxRemembered, LRU). */
  readonly #lastGiven = new Map<string, { id: string; at: number }>();
  #nodes = 1;
  #turn = 0;
  #timer: TimerHandle | undefined;
  #closed = false;
  /** Credentials handed out, by kind of relay (metrics). */
  readonly issued: Record<RelayKind, number> = { registered: 0, static: 0, local: 0 };
  /** Re-asks answered with another relay than last time (metrics). */
  reroutes = 0;
  /** Refreshes that failed (Redis away) and records ignored as malformed (metrics). */
  readonly failures = { refresh: 0, malformed: 0 };

  constructor(o: RelayFleetOptions) {
    this.#o = o;
    this.#t = { ...RELAY_FLEET, ...o.timing };
    const byServer = new Map<string, string[]>();
    for (const u of o.turnUrls ?? []) {
      if (!isTurnUri(u)) throw new TypeError(`--turn-url: not a turn: URI: ${u}`);
      const k = turnServerKey(u);
      byServer.set(k, [...(byServer.get(k) ?? []), u]);
    }
    for (const [k, urls] of byServer) {
      if (urls.length > this.#t.maxUrlsPerRelay)
        throw new RangeError(`--turn-url: at most ${this.#t.maxUrlsPerRelay} URLs per server ${k}`);
      const sorted = udpFirst(urls);
      const recent = new DecayingCount(o.credentialTtlMs);
      this.#static.push({
        id: `static:${k}`,
        kind: 'static',
        urls: () => sorted,
        base: () => 0,
        recent,
      });
    }
    if (o.local) {
      const local = o.local;
      this.#local = {
        id: 'local',
        kind: 'local',
        region: o.region,
        urls: (c) => local.urls(c),
        base: () => local.allocations(),
        recent: new DecayingCount(this.#t.recentTauMs),
      };
    }
  }

  /** Read the registered relays once (so the first peer has them), then every `refreshMs`. */
  async start(): Promise<void> {
    if (!this.#o.redis) return;
    await this.#refresh();
    this.#schedule();
  }

  close(): void {
    this.#closed = true;
    this.#timer?.cancel();
  }

  /**
   * URLs of the relay for `peer`'s credentials, or undefined when no relay is in rotation.
   * `connectedTo`: the local address the peer's signaling connection arrived on (local relay);
   * `region`: the peer's own region label, which wins over this node's.
   */
  pick(peer: string, connectedTo: string, region?: string): string[] | undefined {
    const now = this.#o.clock.now();
    const members = this.#members();
    const candidates: RelayCandidate[] = members.map((m) => ({
      id: m.id,
      region: m.region,
      score: this.#score(m, now),
    }));
    const last = this.#lastGiven.get(peer);
    const avoid = last && now - last.at < this.#t.reaskWindowMs ? last.id : undefined;
    const want = region ?? this.#o.region;
    const c = chooseRelay(candidates, { region: want, avoid, turn: this.#turn++ });
    if (!c) return undefined;
    const m = members.find((x) => x.id === c.id)!;
    m.recent.add(now);
    this.issued[m.kind]++;
    if (avoid !== undefined && avoid !== m.id) this.reroutes++;
    this.#remember(peer, m.id, now);
    return m.urls(connectedTo);
  }

  /** The relays in rotation now, for /metrics. */
  view(): RelayView[] {
    const now = this.#o.clock.now();
    return this.#members().map((m) => {
      const r = this.#registered.get(m.id)?.r;
      return {
        id: m.id,
        kind: m.kind,
        region: m.region,
        allocations: r?.allocations ?? (m.kind === 'local' ? m.base() : 0),
        pps: r?.pps ?? 0,
        score: this.#score(m, now),
      };
    });
  }

  /** Reported load + credentials handed here lately (static: × serve nodes, see above). */
  #score(m: Member, now: number): number {
    const scale = m.kind === 'static' ? Math.max(1, this.#nodes) : 1;
    return m.base() + m.recent.value(now) * scale;
  }

  #members(): Member[] {
    const out: Member[] = [];
    for (const e of this.#registered.values()) out.push(e.m);
    out.push(...this.#static);
    if (this.#local) out.push(this.#local);
    return out;
  }

  #remember(peer: string, id: string, at: number): void {
    this.#lastGiven.delete(peer);
    this.#lastGiven.set(peer, { id, at });
    if (this.#lastGiven.size > this.#t.maxRemembered)
      this.#lastGiven.delete(this.#lastGiven.keys().next().value!);
  }

  #schedule(): void {
    if (this.#closed) return;
    this.#timer = this.#o.clock.setTimeout(() => {
      void this.#refresh().finally(() => this.#schedule());
    }, this.#t.refreshMs);
  }

  async #refresh(): Promise<void> {
    const { redis, keys } = this.#o.redis!;
    try {
      const [ids, nodes] = await Promise.all([
        redis.smembers(keys.relays),
        redis.scard(keys.nodes),
      ]);
      this.#nodes = nodes;
      if (ids.length > this.#t.maxRelays) {
        this.#o.logger.warn('relay fleet: more relays than read', {
          relays: ids.length,
          max: this.#t.maxRelays,
        });
        ids.length = this.#t.maxRelays;
      }
      const raws = ids.length > 0 ? await redis.mget(...ids.map((id) => keys.relay(id))) : [];
      this.#apply(ids, raws);
    } catch (err) {
      // A background loop never throws (STYLE.md 7): the snapshot stays until its TTL.
      this.failures.refresh++;
      this.#o.logger.warn('relay fleet: refresh failed', { err: String(err) });
    }
  }

  #apply(ids: string[], raws: (string | null)[]): void {
    const gone: string[] = [];
    const present = new Set<string>();
    ids.forEach((id, i) => {
      const raw = raws[i];
      if (raw === null || raw === undefined) {
        gone.push(id);
        return;
      }
      const r = decodeRelayRecord(raw);
      if (!r || r.id !== id) {
        this.failures.malformed++;
        return;
      }
      present.add(id);
      const had = this.#registered.get(id);
      if (!had) this.#o.logger.info('relay fleet: relay joined the rotation', { relay: id });
      const m: Member = had?.m ?? {
        id,
        kind: 'registered',
        urls: () => r.urls,
        base: () => 0,
        recent: new DecayingCount(this.#t.recentTauMs),
      };
      m.region = r.region;
      m.urls = () => r.urls;
      m.base = () => r.allocations + r.pps / this.#t.packetsPerAllocation;
      this.#registered.set(id, { r, m });
    });
    for (const id of this.#registered.keys()) {
      if (!present.has(id)) {
        this.#registered.delete(id);
        this.#o.logger.info('relay fleet: relay left the rotation', { relay: id });
      }
    }
    // Ids whose record expired: their relay is dead (a live one re-adds itself each report).
    if (gone.length > 0)
      void this.#o.redis!.redis.srem(this.#o.redis!.keys.relays, ...gone).catch(() => {});
  }
}
