/**
 * Per-user quotas (RFC 8656 §7.2 step 10: 486 Allocation Quota Reached; bandwidth limits are left
 * to the operator by the RFC, coturn calls them `user-quota` and `bps-capacity`).
 *
 * Bandwidth is a token bucket per user over every allocation of that user and both directions;
 * checking it is arithmetic on numbers, no allocation per packet.
 */
import { MIN_BUCKET_BYTES } from '../constants.js';

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
