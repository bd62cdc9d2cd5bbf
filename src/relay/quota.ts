/**
 * Per-user quotas (RFC 8656 §7.2 step 10: 486 Allocation Quota Reached; bandwidth limits are left
 * to the operator by the RFC, coturn calls them `user-quota` and `bps-capacity`).
 *
 * Bandwidth is a token bucket per user over every allocation of that user and both directions;
 * checking it is arithmetic on numbers, no allocation per packet.
 */
import { isIP } from 'node:net';
import { writeIPv6 } from '../stun/ip.js';
import { MIN_BUCKET_BYTES } from './constants.js';

export class TokenBucket {
  readonly #rate: number;
  readonly #capacity: number;
  #tokens: number;
  #last: number;

  /** `bytesPerSecond` 0 = unlimited. */
  constructor(bytesPerSecond: number, now: number) {
    if (!(bytesPerSecond >= 0)) throw new RangeError('bytesPerSecond must be >= 0');
    this.#rate = bytesPerSecond / 1000;
    this.#capacity = Math.max(bytesPerSecond, MIN_BUCKET_BYTES);
    this.#tokens = this.#capacity;
    this.#last = now;
  }

  /** Take `bytes` if available; false means drop the packet. */
  take(bytes: number, now: number): boolean {
    if (this.#rate === 0) return true;
    if (now > this.#last) {
      this.#tokens = Math.min(this.#capacity, this.#tokens + (now - this.#last) * this.#rate);
      this.#last = now;
    }
    if (this.#tokens < bytes) return false;
    this.#tokens -= bytes;
    return true;
  }
}

export interface UserUsage {
  allocations: number;
  readonly bandwidth: TokenBucket;
}

export class UserQuotas {
  readonly #users = new Map<string, UserUsage>();
  readonly #maxAllocations: number;
  readonly #bytesPerSecond: number;

  constructor(maxAllocationsPerUser: number, bytesPerSecond: number) {
    if (!Number.isInteger(maxAllocationsPerUser) || maxAllocationsPerUser < 1) {
      throw new RangeError('maxAllocationsPerUser must be an integer >= 1');
    }
    this.#maxAllocations = maxAllocationsPerUser;
    this.#bytesPerSecond = bytesPerSecond;
  }

  /** Count a new allocation for `user`; false when the quota is reached (→ 486). */
  acquire(user: string, now: number): UserUsage | undefined {
    let u = this.#users.get(user);
    if (!u) {
      u = { allocations: 0, bandwidth: new TokenBucket(this.#bytesPerSecond, now) };
      this.#users.set(user, u);
    }
    if (u.allocations >= this.#maxAllocations) return undefined;
    u.allocations++;
    return u;
  }

  release(user: string): void {
    const u = this.#users.get(user);
    if (!u) return;
    u.allocations--;
    if (u.allocations <= 0) this.#users.delete(user);
  }

  allocationsOf(user: string): number {
    return this.#users.get(user)?.allocations ?? 0;
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
