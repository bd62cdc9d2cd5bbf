/**
 * The one token bucket and the one keyed rate limiter of natpush (issue 10 item 5). Every rate
 * limit — STUN Binding per source, TURN error replies per source, relay bandwidth per user and
 * per server, signaling frames per connection, HTTP requests per address, cluster watches per
 * watcher — is one of these two, so refill and eviction are written (and tested) once.
 *
 * Refill is computed lazily from the time of each `take`, so a bucket costs two numbers and no
 * timer, and a limiter costs one Map lookup per call (STYLE.md §3, §8).
 */
import type { Clock } from './clock.js';

export interface TokenBucketOptions {
  /**
   * Tokens added per second. `Infinity` = unlimited: `take` always succeeds and does no
   * arithmetic (the relay's "0 = no bandwidth cap" uses this).
   */
  ratePerSecond: number;
  /** Bucket size: what may be taken at once after a quiet spell. A new bucket starts full. */
  burst: number;
}

/**
 * Token bucket. Pure: the caller passes the time (milliseconds, the injected clock's `now()`), so
 * one clock read can serve several buckets on a hot path (the relay charges a packet to its
 * user's bucket and the server's).
 */
export class TokenBucket {
  readonly #rate: number; // tokens per millisecond
  readonly #burst: number;
  readonly #unlimited: boolean;
  #tokens: number;
  #last: number;

  constructor(opts: TokenBucketOptions, now: number) {
    if (!(opts.ratePerSecond > 0) || !(opts.burst >= 1)) {
      throw new RangeError(`token bucket needs ratePerSecond > 0 and burst >= 1`);
    }
    this.#unlimited = opts.ratePerSecond === Infinity;
    this.#rate = opts.ratePerSecond / 1000;
    this.#burst = opts.burst;
    this.#tokens = opts.burst;
    this.#last = now;
  }

  /** Take `n` tokens at time `now`; false (nothing taken) when fewer than `n` are left. */
  take(n: number, now: number): boolean {
    if (this.#unlimited) return true;
    this.#refill(now);
    if (this.#tokens < n) return false;
    this.#tokens -= n;
    return true;
  }

  /** Tokens available at `now` (fractional). */
  available(now: number): number {
    if (this.#unlimited) return Infinity;
    this.#refill(now);
    return this.#tokens;
  }

  #refill(now: number): void {
    // The clock is the wall clock (util/clock.ts): if it steps back, restart the interval from
    // there instead of removing tokens or freezing refill until it catches up.
    if (now > this.#last) {
      this.#tokens = Math.min(this.#burst, this.#tokens + (now - this.#last) * this.#rate);
    }
    this.#last = now;
  }
}

export interface KeyedRateLimiterOptions extends TokenBucketOptions {
  /**
   * Keys tracked at once (the table's bound, STYLE.md §8). When a new key arrives at a full
   * table the oldest half is forgotten in one pass. Forgetting a key only gives it a fresh
   * (full) bucket, so eviction can make the limiter more lenient, never stricter: bounded memory
   * matters more. Half at once, not one at a time: V8's Map leaves a hole per deleted entry at
   * its front until it rehashes, so taking the oldest key one eviction at a time walks those
   * holes every time — measured 110 µs per eviction at 65,536 keys (22 s for 200,000 new keys)
   * against 2.7 µs amortised for half at once.
   */
  maxKeys: number;
  /**
   * Which keys are "oldest": `inserted` (default) — first seen, one Map lookup per call;
   * `used` — least recently used: a call moves its key to the back (a delete and a set), so a
   * busy key is never the one forgotten.
   */
  order?: 'inserted' | 'used';
}

/** One token bucket per key (a source address, a user, a watcher) in a bounded table. */
export class KeyedRateLimiter {
  readonly #opts: TokenBucketOptions;
  readonly #max: number;
  readonly #byUse: boolean;
  readonly #clock: Clock;
  readonly #buckets = new Map<string, TokenBucket>();

  constructor(opts: KeyedRateLimiterOptions, clock: Clock) {
    if (!Number.isInteger(opts.maxKeys) || opts.maxKeys < 1) {
      throw new RangeError('maxKeys must be an integer >= 1');
    }
    // Validate rate and burst now, not at the first call.
    new TokenBucket(opts, 0);
    this.#opts = { ratePerSecond: opts.ratePerSecond, burst: opts.burst };
    this.#max = opts.maxKeys;
    this.#byUse = opts.order === 'used';
    this.#clock = clock;
  }

  /** Keys tracked now (at most `maxKeys`). */
  get size(): number {
    return this.#buckets.size;
  }

  /** Take `n` tokens (default 1) for `key`; false when it has fewer left. */
  allow(key: string, n = 1): boolean {
    const now = this.#clock.now();
    return this.#bucket(key, now).take(n, now);
  }

  /** Take as many whole tokens as `key` has, up to `n`; returns how many were taken. */
  takeUpTo(key: string, n: number): number {
    const now = this.#clock.now();
    const b = this.#bucket(key, now);
    const k = Math.min(n, Math.floor(b.available(now)));
    if (k > 0) b.take(k, now);
    return k;
  }

  #bucket(key: string, now: number): TokenBucket {
    let b = this.#buckets.get(key);
    if (b) {
      if (this.#byUse) {
        this.#buckets.delete(key);
        this.#buckets.set(key, b);
      }
      return b;
    }
    if (this.#buckets.size >= this.#max) this.#evictOldestHalf();
    b = new TokenBucket(this.#opts, now);
    this.#buckets.set(key, b);
    return b;
  }

  #evictOldestHalf(): void {
    let n = this.#buckets.size >> 1 || 1;
    for (const k of this.#buckets.keys()) {
      this.#buckets.delete(k);
      if (--n === 0) break;
    }
  }
}
