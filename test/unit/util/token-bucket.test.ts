import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/util/clock.js';
import { KeyedRateLimiter, TokenBucket } from '../../../src/util/token-bucket.js';

describe('TokenBucket', () => {
  it('starts full, refills at the rate, never above the burst', () => {
    const b = new TokenBucket({ ratePerSecond: 10, burst: 5 }, 0);
    for (let i = 0; i < 5; i++) expect(b.take(1, 0)).toBe(true);
    expect(b.take(1, 0)).toBe(false);
    expect(b.take(1, 99)).toBe(false); // 0.99 tokens
    expect(b.take(1, 100)).toBe(true); // 100 ms at 10/s = 1 token
    expect(b.take(1, 100)).toBe(false);
    expect(b.available(100_000)).toBe(5); // a long quiet spell fills to the burst only
  });

  it('takes n at once or nothing', () => {
    const b = new TokenBucket({ ratePerSecond: 1000, burst: 1000 }, 0);
    expect(b.take(1001, 0)).toBe(false);
    expect(b.available(0)).toBe(1000); // a refused take takes nothing
    expect(b.take(600, 0)).toBe(true);
    expect(b.take(600, 0)).toBe(false);
    expect(b.take(600, 200)).toBe(true); // 400 + 200
  });

  it('Infinity is unlimited', () => {
    const b = new TokenBucket({ ratePerSecond: Infinity, burst: 1 }, 0);
    expect(b.take(1e12, 0)).toBe(true);
    expect(b.take(1e12, 0)).toBe(true);
    expect(b.available(0)).toBe(Infinity);
  });

  it('a clock that steps back neither removes tokens nor freezes the refill', () => {
    const b = new TokenBucket({ ratePerSecond: 10, burst: 5 }, 10_000);
    for (let i = 0; i < 5; i++) b.take(1, 10_000);
    expect(b.available(5_000)).toBe(0); // stepped back 5 s: nothing gained, nothing lost
    expect(b.available(5_100)).toBeCloseTo(1); // refill restarts from the new time
  });

  it('misuse is a RangeError', () => {
    expect(() => new TokenBucket({ ratePerSecond: 0, burst: 1 }, 0)).toThrow(RangeError);
    expect(() => new TokenBucket({ ratePerSecond: -1, burst: 1 }, 0)).toThrow(RangeError);
    expect(() => new TokenBucket({ ratePerSecond: NaN, burst: 1 }, 0)).toThrow(RangeError);
    expect(() => new TokenBucket({ ratePerSecond: 1, burst: 0.5 }, 0)).toThrow(RangeError);
  });
});

describe('KeyedRateLimiter', () => {
  it('one bucket per key, refilled from the injected clock', () => {
    const clock = new ManualClock(0);
    const l = new KeyedRateLimiter({ ratePerSecond: 2, burst: 2, maxKeys: 10 }, clock);
    expect(l.allow('a')).toBe(true);
    expect(l.allow('a')).toBe(true);
    expect(l.allow('a')).toBe(false);
    expect(l.allow('b')).toBe(true); // another key has its own bucket
    clock.advance(499);
    expect(l.allow('a')).toBe(false);
    clock.advance(1);
    expect(l.allow('a')).toBe(true);
    expect(clock.pending).toBe(0); // no timers, per key or otherwise
  });

  it('allow(key, n) and takeUpTo take several tokens', () => {
    const clock = new ManualClock(0);
    const l = new KeyedRateLimiter({ ratePerSecond: 100, burst: 10, maxKeys: 10 }, clock);
    expect(l.allow('a', 11)).toBe(false);
    expect(l.allow('a', 4)).toBe(true);
    expect(l.takeUpTo('a', 100)).toBe(6);
    expect(l.takeUpTo('a', 100)).toBe(0);
    clock.advance(25); // 2.5 tokens: two whole ones
    expect(l.takeUpTo('a', 100)).toBe(2);
    expect(l.takeUpTo('a', 0)).toBe(0);
  });

  it('the table never holds more than maxKeys: the oldest-inserted half goes first', () => {
    const clock = new ManualClock(0);
    const l = new KeyedRateLimiter({ ratePerSecond: 1, burst: 1, maxKeys: 4 }, clock);
    for (const k of ['a', 'b', 'c', 'd']) expect(l.allow(k)).toBe(true);
    expect(l.allow('a')).toBe(false); // use does not refresh in `inserted` order
    expect(l.allow('e')).toBe(true); // full: a and b forgotten
    expect(l.size).toBe(3);
    expect(l.allow('c')).toBe(false); // c and d kept their empty buckets
    expect(l.allow('d')).toBe(false);
    expect(l.allow('a')).toBe(true); // a forgotten: a fresh bucket
    expect(l.size).toBe(4);
    for (let i = 0; i < 1000; i++) l.allow(`k${i}`);
    expect(l.size).toBeLessThanOrEqual(4);
  });

  it("order 'used': a busy key is not the one forgotten", () => {
    const clock = new ManualClock(0);
    const l = new KeyedRateLimiter(
      { ratePerSecond: 1, burst: 1, maxKeys: 4, order: 'used' },
      clock,
    );
    for (const k of ['a', 'b', 'c', 'd']) l.allow(k);
    expect(l.allow('a')).toBe(false); // a is now the most recently used
    l.allow('e'); // full: b and c forgotten
    expect(l.allow('a')).toBe(false); // a kept its empty bucket
    expect(l.allow('b')).toBe(true); // b forgotten: fresh
  });

  it('misuse is a RangeError', () => {
    const clock = new ManualClock(0);
    expect(() => new KeyedRateLimiter({ ratePerSecond: 1, burst: 1, maxKeys: 0 }, clock)).toThrow(
      RangeError,
    );
    expect(() => new KeyedRateLimiter({ ratePerSecond: 0, burst: 1, maxKeys: 1 }, clock)).toThrow(
      RangeError,
    );
  });
});
