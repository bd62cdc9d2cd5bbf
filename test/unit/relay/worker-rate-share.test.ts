/**
 * The STUN per-source limit split over workers (src/server/workers/rate-share.ts): the shares
 * add up to the whole-server limit, never more, with one request of burst at least per worker.
 */
import { describe, expect, it } from 'vitest';
import { workerShare } from '../../../src/server/workers/rate-share.js';
import { RateLimiter } from '../../../src/stun/rate-limiter.js';
import { ManualClock } from '../../../src/util/clock.js';

describe('workerShare', () => {
  it('gives each of N workers 1/N of the rate and the burst', () => {
    expect(workerShare({ perSecond: 200, burst: 400, maxSources: 7 }, 2)).toEqual({
      perSecond: 100,
      burst: 200,
      maxSources: 7,
    });
    expect(workerShare({ perSecond: 200, burst: 400 }, 1)).toEqual({ perSecond: 200, burst: 400 });
    expect(workerShare(false, 4)).toBe(false);
  });

  it('keeps a burst of one request per worker', () => {
    expect(workerShare({ perSecond: 1, burst: 2 }, 4)).toEqual({ perSecond: 0.25, burst: 1 });
  });

  it('refuses a worker count that is not a positive integer', () => {
    expect(() => workerShare({ perSecond: 1, burst: 1 }, 0)).toThrow(RangeError);
    expect(() => workerShare({ perSecond: 1, burst: 1 }, 1.5)).toThrow(RangeError);
  });

  it('N limiters with the shares allow what one limiter with the whole allows, at most', () => {
    const whole = { perSecond: 10, burst: 20, maxSources: 16 };
    for (const workers of [1, 2, 3, 5]) {
      const clock = new ManualClock(0);
      const share = workerShare(whole, workers);
      if (share === false) throw new Error('unreachable');
      const limiters = Array.from({ length: workers }, () => new RateLimiter(share, clock));
      const one = new RateLimiter(whole, clock);
      let split = 0;
      let single = 0;
      // 3 s of a source hammering every worker (its many ports spread by the kernel).
      for (let ms = 0; ms <= 3000; ms += 10) {
        if (ms > 0) clock.advance(10);
        for (let i = 0; i < 5; i++) {
          for (const l of limiters) if (l.allow('198.51.100.7')) split++;
          if (one.allow('198.51.100.7')) single++;
        }
      }
      // burst + rate · t: the whole-server bound (one limiter may land a token short of it by
      // float rounding, which is why the bound and not `single` is the ceiling).
      expect(split).toBeLessThanOrEqual(whole.burst + whole.perSecond * 3);
      expect(split).toBeGreaterThanOrEqual(single - workers); // fractional tokens left per worker
    }
  });
});
