import { describe, expect, it } from 'vitest';
import { Dedupe } from '../../../src/peer/dedupe.js';
import { backoffDelay } from '../../../src/signaling/backoff.js';

describe('Dedupe', () => {
  it('reports queued, then consumed, and forgets the oldest beyond capacity', () => {
    const d = new Dedupe(2);
    expect(d.check('s', 'a')).toBeUndefined();
    expect(d.check('s', 'a')).toBe('queued');
    d.consumed('s', 'a');
    expect(d.check('s', 'a')).toBe('consumed');
    d.check('s', 'b');
    d.check('s', 'c');
    expect(d.size).toBe(2);
    expect(d.check('s', 'a')).toBeUndefined();
  });

  it('keys by (sender, id): the same id from another sender is a different notification', () => {
    const d = new Dedupe();
    expect(d.check('peer', 'build-1234')).toBeUndefined();
    d.consumed('peer', 'build-1234');
    expect(d.check('app:1', 'build-1234')).toBeUndefined();
    expect(d.check('app:1', 'build-1234')).toBe('queued');
    // no separator can be forged: ('a:b', 'c') is not ('a', 'b:c')
    expect(d.check('a:b', 'c')).toBeUndefined();
    expect(d.check('a', 'b:c')).toBeUndefined();
  });
});

describe('backoffDelay', () => {
  const o = { initialMs: 100, maxMs: 1000, factor: 2 };
  it('grows exponentially up to the cap, with full jitter', () => {
    expect(backoffDelay(o, 0, () => 0.999)).toBe(99);
    expect(backoffDelay(o, 3, () => 0.999)).toBe(799);
    expect(backoffDelay(o, 20, () => 0.999)).toBe(999);
    expect(backoffDelay(o, 5, () => 0)).toBe(0);
    expect(() => backoffDelay(o, -1)).toThrow(RangeError);
  });
});
