import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/util/clock.js';

describe('ManualClock', () => {
  it('fires due timers in time order, then in creation order', () => {
    const clock = new ManualClock(0);
    const fired: string[] = [];
    clock.setTimeout(() => fired.push('b'), 20);
    clock.setTimeout(() => fired.push('a'), 10);
    clock.setTimeout(() => fired.push('c'), 20);
    clock.advance(15);
    expect(fired).toEqual(['a']);
    expect(clock.now()).toBe(15);
    clock.advance(5);
    expect(fired).toEqual(['a', 'b', 'c']);
  });

  it('does not fire cancelled timers and fires timers set by timers', () => {
    const clock = new ManualClock(0);
    const fired: number[] = [];
    const t = clock.setTimeout(() => fired.push(1), 5);
    clock.setTimeout(() => clock.setTimeout(() => fired.push(3), 5), 5);
    t.cancel();
    clock.advance(10);
    expect(fired).toEqual([3]);
    expect(clock.pending).toBe(0);
  });

  it('rejects negative delays', () => {
    expect(() => new ManualClock().setTimeout(() => {}, -1)).toThrow(RangeError);
  });
});
