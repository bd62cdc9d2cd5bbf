/**
 * A TURN relay's membership of the cluster (`natpush relay --redis URL`): every `reportMs` it
 * writes its record (relay-record.ts: URLs, region, allocations, packets/s) to `relay:{id}`
 * with a TTL and adds its id to `relays`; serve nodes read the fleet from there (relay-fleet.ts).
 * A relay that dies stops reporting and its record expires within `ttlMs`; a graceful close
 * deletes it at once. A Redis restart loses nothing lasting: the next report writes it again.
 *
 * The hook for create-relay.ts is `registerRelay()`: it needs only a way to read the relay's
 * counters (all workers summed), so every worker mode registers the same way.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { SignalingError, SignalingErrorCode } from '../signaling/errors.js';
import { systemClock, type Clock, type TimerHandle } from '../util/clock.js';
import { silentLogger, type Logger } from '../util/logger.js';
import { RELAY_FLEET } from './constants.js';
import { ClusterKeys, DEFAULT_PREFIX } from './keys.js';
import { parseRedisUrl, redactRedisUrl } from './redis-options.js';
import { encodeRelayRecord, udpFirst, type RelayRecord } from './relay-record.js';

/** The relay's figures (Relay.counters(): `allocations`, `toPeerPackets`, `toClientPackets`). */
export type RelayLoadSource = () => Promise<Record<string, unknown>>;

export interface RelayRegistrationOptions {
  redisUrl: string;
  /** How peers reach this relay: RFC 7065 `turn:` URIs (1..4). */
  urls: readonly string[];
  region?: string | undefined;
  load: RelayLoadSource;
  /** Default random (a restarted relay is a new relay; its old record expires). */
  id?: string;
  prefix?: string;
  timing?: { reportMs?: number; ttlMs?: number };
  clock?: Clock;
  logger?: Logger;
}

export interface RelayRegistration {
  readonly id: string;
  /** Reports that reached Redis / failed (a failure is logged and retried at the next period). */
  readonly reports: { ok: number; failed: number };
  /** Stop reporting and delete the record: serve nodes stop handing this relay out. */
  close(): Promise<void>;
}

const num = (s: Record<string, unknown>, k: string): number =>
  typeof s[k] === 'number' ? (s[k] as number) : 0;

/** Connect, write the first report (so the relay is in rotation when this resolves), go on. */
export async function registerRelay(o: RelayRegistrationOptions): Promise<RelayRegistration> {
  const clock = o.clock ?? systemClock;
  const logger = o.logger ?? silentLogger;
  const reportMs = o.timing?.reportMs ?? RELAY_FLEET.reportMs;
  const ttlMs = o.timing?.ttlMs ?? RELAY_FLEET.ttlMs;
  const keys = new ClusterKeys(o.prefix ?? DEFAULT_PREFIX);
  const id = o.id ?? `relay-${randomBytes(6).toString('hex')}`;
  const urls = udpFirst(o.urls);
  // Validated now (programmer or operator misuse throws before anything connects).
  encodeRelayRecord({ id, urls, region: o.region, allocations: 0, pps: 0, at: 0 });
  const t = parseRedisUrl(o.redisUrl);
  const options = {
    ...t.options,
    connectionName: `natpush-${id}`,
    // A report waits for a reconnect a little, then fails and is retried at the next period.
    maxRetriesPerRequest: 2,
    retryStrategy: (times: number) => Math.min(50 * times, 1_000),
    lazyConnect: true,
  };
  const redis = t.url ? new Redis(t.url, options) : new Redis(options);
  let lastError = '';
  redis.on('error', (err: Error) => {
    if (err.message === lastError) return;
    lastError = err.message;
    logger.warn('relay registration: redis connection error', { err: err.message });
  });
  try {
    await redis.connect();
  } catch (err) {
    redis.disconnect();
    // The same typed failure as a serve node that cannot reach Redis (cluster-node.ts).
    throw new SignalingError(
      SignalingErrorCode.STORE_FAILED,
      `cannot reach Redis at ${redactRedisUrl(o.redisUrl)}: ${lastError || (err as Error).message}`,
      { cause: err },
    );
  }

  const reports = { ok: 0, failed: 0 };
  let last: { at: number; packets: number } | undefined;
  let timer: TimerHandle | undefined;
  let closed = false;

  const report = async (): Promise<void> => {
    const c = await o.load();
    const now = clock.now();
    const packets = num(c, 'toPeerPackets') + num(c, 'toClientPackets');
    const pps =
      last && now > last.at ? Math.max(0, ((packets - last.packets) * 1000) / (now - last.at)) : 0;
    last = { at: now, packets };
    const r: RelayRecord = {
      id,
      urls,
      ...(o.region !== undefined ? { region: o.region } : {}),
      allocations: num(c, 'allocations'),
      pps: Math.round(pps),
      at: now,
    };
    await redis
      .multi()
      .set(keys.relay(id), encodeRelayRecord(r), 'PX', ttlMs)
      .sadd(keys.relays, id)
      .exec();
    reports.ok++;
  };
  const schedule = () => {
    if (closed) return;
    timer = clock.setTimeout(() => {
      report().then(
        () => schedule(),
        (err: unknown) => {
          // A background loop never throws (STYLE.md 7): count, log, try again next period.
          reports.failed++;
          logger.warn('relay registration: report failed', { err: String(err) });
          schedule();
        },
      );
    }, reportMs);
  };

  try {
    await report();
  } catch (err) {
    redis.disconnect();
    throw err;
  }
  schedule();
  logger.info('relay registered with the cluster', {
    relay: id,
    urls,
    region: o.region,
    redis: redactRedisUrl(o.redisUrl),
  });
  return {
    id,
    reports,
    async close() {
      closed = true;
      timer?.cancel();
      try {
        await redis.multi().del(keys.relay(id)).srem(keys.relays, id).exec();
      } catch (err) {
        logger.warn('relay registration: could not delete the record', { err: String(err) });
      }
      redis.disconnect();
    },
  };
}

/**
 * The URLs a relay advertises when the operator names none: `turn:HOST:PORT` for its UDP
 * listener (and TCP, if any) on `host` — its external address behind a 1:1 NAT, else the
 * address it listens on, else its relay address (the relay-options.ts default for 0.0.0.0).
 */
export function defaultRelayUrls(
  host: string,
  addresses: { udp: { port: number }; tcp?: { port: number } },
): string[] {
  const h = host.includes(':') ? `[${host}]` : host;
  const urls = [`turn:${h}:${addresses.udp.port}?transport=udp`];
  if (addresses.tcp) urls.push(`turn:${h}:${addresses.tcp.port}?transport=tcp`);
  return urls;
}
