import { describe, expect, it } from 'vitest';
import { Dedupe } from '../../../src/peer/dedupe.js';
import { backoffDelay } from '../../../src/signaling/backoff.js';

describe('Dedupe', () => {
  it('reports queued, then consumed, and forgets the oldest beyond capacity', () => {
    const d = new Dedupe(2);
    expect(d.check('a')).toBeUndefined();
    expect(d.check('a')).toBe('queued');
    d.consumed('a');
    expect(d.check('a')).toBe('consumed');
    d.check('b');
    d.check('c');
    expect(d.size).toBe(2);
    expect(d.check('a')).toBeUndefined();
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
