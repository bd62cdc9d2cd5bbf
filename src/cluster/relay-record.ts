/**
 * What a TURN relay tells the cluster about itself, stored as JSON in `relay:{id}` (keys.ts)
 * with a TTL its reports renew:
 *
 * | field         | what                                                                  |
 * | ------------- | --------------------------------------------------------------------- |
 * | `id`          | the relay's id (random per process: a restarted relay is a new relay)  |
 * | `urls`        | its RFC 7065 `turn:` URIs as peers reach it, UDP first (1..4)          |
 * | `region`      | optional operator label (`eu-west`): serve prefers relays of its own  |
 * | `allocations` | TURN allocations held (all workers summed)                            |
 * | `pps`         | packets relayed per second, both directions, over the last report     |
 * | `at`          | the relay's clock at the report (ms; logs only — TTLs decide liveness) |
 *
 * Pure: decoding validates every field (a record is written by another process; a malformed one
 * is ignored and counted by the reader, never trusted).
 */
import { RELAY_FLEET } from './constants.js';

export interface RelayRecord {
  id: string;
  urls: string[];
  region?: string;
  allocations: number;
  pps: number;
  at: number;
}

/** `turn:` / `turns:` URI as the protocol's `turn-credentials` reply accepts it (≤ 300 chars). */
const TURN_URI = /^turns?:[^\s]{1,294}$/;
const ID = /^[A-Za-z0-9_.:-]{1,64}$/;
const REGION = new RegExp(`^[A-Za-z0-9_.:-]{1,${RELAY_FLEET.maxRegionChars}}$`);

/** Is `s` a relay id, a region label, a `turn:` URI (for the options' validation too)? */
export const isRelayId = (s: string): boolean => ID.test(s);
export const isRegion = (s: string): boolean => REGION.test(s);
export const isTurnUri = (s: string): boolean => TURN_URI.test(s);

export function encodeRelayRecord(r: RelayRecord): string {
  if (!isRelayId(r.id)) throw new TypeError(`not a relay id: ${JSON.stringify(r.id)}`);
  if (r.urls.length < 1 || r.urls.length > RELAY_FLEET.maxUrlsPerRelay)
    throw new RangeError(`a relay advertises 1..${RELAY_FLEET.maxUrlsPerRelay} URLs`);
  for (const u of r.urls) if (!isTurnUri(u)) throw new TypeError(`not a turn: URI: ${u}`);
  if (r.region !== undefined && !isRegion(r.region))
    throw new TypeError(`not a region label: ${JSON.stringify(r.region)}`);
  return JSON.stringify(r);
}

const count = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;

/** The record, or undefined when `raw` is not one (ignored by the reader). */
export function decodeRelayRecord(raw: string): RelayRecord | undefined {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  if (typeof o.id !== 'string' || !isRelayId(o.id)) return undefined;
  if (!Array.isArray(o.urls) || o.urls.length < 1 || o.urls.length > RELAY_FLEET.maxUrlsPerRelay)
    return undefined;
  if (!o.urls.every((u) => typeof u === 'string' && isTurnUri(u))) return undefined;
  if (o.region !== undefined && (typeof o.region !== 'string' || !isRegion(o.region)))
    return undefined;
  if (!count(o.allocations) || !count(o.pps) || !count(o.at)) return undefined;
  return {
    id: o.id,
    urls: o.urls as string[],
    ...(o.region !== undefined ? { region: o.region } : {}),
    allocations: o.allocations,
    pps: o.pps,
    at: o.at,
  };
}

/**
 * `turn:HOST:PORT?transport=udp` → `HOST:PORT`: URLs of one server (its UDP and TCP listeners)
 * share this key, so `--turn-url` entries group into one relay per server.
 */
export function turnServerKey(uri: string): string {
  const rest = uri.replace(/^turns?:/, '');
  const q = rest.indexOf('?');
  return q < 0 ? rest : rest.slice(0, q);
}

/** UDP first (the `turn-credentials` reply's order; peers take the first UDP one). */
export function udpFirst(urls: readonly string[]): string[] {
  const udp = (u: string) => !/transport=tcp/i.test(u) && !u.startsWith('turns:');
  return [...urls.filter(udp), ...urls.filter((u) => !udp(u))];
}
