/**
 * Per-source rate limit of the STUN and TURN listeners: the shared keyed limiter
 * (util/token-bucket.ts) under the option names the servers and the CLI use.
 */
import { isIP } from 'node:net';
import type { Clock } from '../util/clock.js';
import { KeyedRateLimiter } from '../util/token-bucket.js';
import { writeIPv6 } from './ip.js';

export interface RateLimitOptions {
  /** Sustained requests per second allowed per source address. */
  perSecond: number;
  /** Bucket size: requests a source may send in a burst. */
  burst: number;
  /** Sources tracked at once; when full the oldest-inserted half is forgotten. */
  maxSources: number;
}

export class RateLimiter extends KeyedRateLimiter {
  constructor(opts: RateLimitOptions, clock: Clock) {
    if (!(opts.perSecond > 0) || !(opts.burst >= 1) || !(opts.maxSources >= 1)) {
      throw new RangeError(`bad rate limit ${JSON.stringify(opts)}`);
    }
    super(
      { ratePerSecond: opts.perSecond, burst: opts.burst, maxKeys: Math.floor(opts.maxSources) },
      clock,
    );
  }
}

/**
 * The unit a per-address cap counts: an IPv4 address (IPv4-mapped IPv6 included), or the /64 of
 * an IPv6 address — one subscriber's prefix, inside which a host may use any address (RFC 7934
 * §4), so counting single IPv6 addresses would cap nothing.
 */
export function sourceKey(address: string): string {
  const lower = address.toLowerCase();
  if (lower.startsWith('::ffff:') && isIP(lower.slice(7)) === 4) return lower.slice(7);
  if (isIP(lower) !== 6) return lower;
  const b = Buffer.alloc(16);
  writeIPv6(lower, b, 0);
  return b.subarray(0, 8).toString('hex') + '::/64';
}

/** Counts per key with a cap (per-IP allocations); entries exist only while counted. */
export class KeyedCounter {
  readonly #counts = new Map<string, number>();

  constructor(readonly max: number) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError('max must be an integer >= 1');
  }

  /** Count one for `key`; false (nothing counted) when it already holds `max`. */
  acquire(key: string): boolean {
    const n = this.#counts.get(key) ?? 0;
    if (n >= this.max) return false;
    this.#counts.set(key, n + 1);
    return true;
  }

  release(key: string): void {
    const n = this.#counts.get(key);
    if (n === undefined) return;
    if (n <= 1) this.#counts.delete(key);
    else this.#counts.set(key, n - 1);
  }

  count(key: string): number {
    return this.#counts.get(key) ?? 0;
  }

  get size(): number {
    return this.#counts.size;
  }
}
