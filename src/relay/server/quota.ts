/**
 * Per-user quotas (RFC 8656 §7.2 step 10: 486 Allocation Quota Reached; bandwidth limits are left
 * to the operator by the RFC, coturn calls them `user-quota` and `bps-capacity`).
 *
 * Bandwidth is a token bucket per user over every allocation of that user and both directions;
 * checking it is arithmetic on numbers, no allocation per packet.
 */
import { TokenBucket as Bucket } from '../../util/token-bucket.js';
import { MIN_BUCKET_BYTES } from '../constants.js';

/** A bandwidth cap in bytes: the shared token bucket (util/token-bucket.ts), a byte a token. */
export class TokenBucket extends Bucket {
  /** `bytesPerSecond` 0 = unlimited. */
  constructor(bytesPerSecond: number, now: number) {
    if (!(bytesPerSecond >= 0)) throw new RangeError('bytesPerSecond must be >= 0');
    super(
      {
        ratePerSecond: bytesPerSecond === 0 ? Infinity : bytesPerSecond,
        burst: Math.max(bytesPerSecond, MIN_BUCKET_BYTES),
      },
      now,
    );
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
