import { describe, expect, it } from 'vitest';
import { KeyedCounter, sourceKey } from '../../../src/stun/rate-limiter.js';

describe('per-source accounting', () => {
  it('counts IPv4 per address and IPv6 per /64; IPv4-mapped as IPv4', () => {
    expect(sourceKey('198.51.100.7')).toBe('198.51.100.7');
    expect(sourceKey('::ffff:198.51.100.7')).toBe('198.51.100.7');
    expect(sourceKey('2001:db8:1:2::1')).toBe(sourceKey('2001:db8:1:2:ffff:ffff:ffff:ffff'));
    expect(sourceKey('2001:db8:1:2::1')).not.toBe(sourceKey('2001:db8:1:3::1'));
    expect(sourceKey('2001:DB8:1:2::1')).toBe('20010db800010002::/64');
  });

  it('KeyedCounter caps per key and forgets keys at zero', () => {
    const c = new KeyedCounter(2);
    expect(c.acquire('a')).toBe(true);
    expect(c.acquire('a')).toBe(true);
    expect(c.acquire('a')).toBe(false);
    expect(c.acquire('b')).toBe(true);
    c.release('a');
    expect(c.acquire('a')).toBe(true);
    c.release('a');
    c.release('a');
    c.release('b');
    expect(c.size).toBe(0);
    expect(() => new KeyedCounter(0)).toThrow(RangeError);
  });
});
