import type { Clock } from '../util/clock.js';

/**
 * Token bucket: `rate` tokens per second, holding at most `burst`. Pure: time comes from the
 * injected clock. One per connection; a frame takes one token.
 */
export class TokenBucket {
  #tokens: number;
  #last: number;
  readonly #rate: number;
  readonly #burst: number;
  readonly #clock: Clock;

  constructor(clock: Clock, rate: number, burst: number) {
    if (!(rate > 0) || !(burst >= 1)) throw new RangeError('rate must be > 0 and burst >= 1');
    this.#clock = clock;
    this.#rate = rate;
    this.#burst = burst;
    this.#tokens = burst;
    this.#last = clock.now();
  }

  /** Take one token; false when the bucket is empty. */
  take(): boolean {
    const now = this.#clock.now();
    this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#last) * this.#rate) / 1000);
    this.#last = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}
