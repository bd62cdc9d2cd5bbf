/**
 * Per-source token buckets with a bounded table (STYLE.md §8). Refill is computed lazily from
 * the injected clock, so the limiter costs one Map lookup per packet and no timers.
 */
import type { Clock } from '../util/clock.js';

export interface RateLimitOptions {
  /** Sustained requests per second allowed per source address. */
  perSecond: number;
  /** Bucket size: requests a source may send in a burst. */
  burst: number;
  /** Sources tracked at once; when full the oldest-inserted half is forgotten. */
  maxSources: number;
}

interface Bucket {
  tokens: number;
  last: number;
}

export class RateLimiter {
  readonly #opts: RateLimitOptions;
  readonly #clock: Clock;
  readonly #buckets = new Map<string, Bucket>();

  constructor(opts: RateLimitOptions, clock: Clock) {
    if (!(opts.perSecond > 0) || !(opts.burst >= 1) || !(opts.maxSources >= 1)) {
      throw new RangeError(`bad rate limit ${JSON.stringify(opts)}`);
    }
    this.#opts = opts;
    this.#clock = clock;
  }

  get size(): number {
    return this.#buckets.size;
  }

  /** Take one token for `source`; false when it has none left. */
  allow(source: string): boolean {
    const now = this.#clock.now();
    let b = this.#buckets.get(source);
    if (!b) {
      if (this.#buckets.size >= this.#opts.maxSources) this.#evict();
      b = { tokens: this.#opts.burst, last: now };
      this.#buckets.set(source, b);
    } else if (now > b.last) {
      b.tokens = Math.min(
        this.#opts.burst,
        b.tokens + ((now - b.last) * this.#opts.perSecond) / 1000,
      );
      b.last = now;
    }
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  #evict(): void {
    // Forgetting a source only gives it a fresh burst; bounded memory matters more.
    let n = this.#buckets.size >> 1 || 1;
    for (const k of this.#buckets.keys()) {
      this.#buckets.delete(k);
      if (--n === 0) break;
    }
  }
}
