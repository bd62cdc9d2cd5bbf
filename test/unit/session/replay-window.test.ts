import { describe, expect, it } from 'vitest';
import { ReplayWindow } from '../../../src/session/replay-window.js';

describe('ReplayWindow', () => {
  it('accepts each counter once, in any order within the window', () => {
    const w = new ReplayWindow(64);
    const order = [0, 5, 3, 1, 2, 4, 70, 10, 69, 7];
    for (const n of order) {
      expect(w.check(n), `first ${n}`).toBe(true);
      w.accept(n);
    }
    // duplicates are refused
    for (const n of [5, 70, 10, 69, 7]) expect(w.check(n)).toBe(false);
    // too old: 70 − 64 = 6 is outside a 64-wide window, 7 was accepted, 8 not yet
    expect(w.check(6)).toBe(false);
    expect(w.check(8)).toBe(true);
  });

  it('a big jump clears the window; a late message inside it is still accepted', () => {
    const w = new ReplayWindow(2048);
    for (let i = 0; i < 3000; i++) w.accept(i);
    w.accept(100_000);
    expect(w.highest).toBe(100_000);
    expect(w.check(100_000 - 2047)).toBe(true);
    expect(w.check(100_000 - 2048)).toBe(false);
    expect(w.check(2999)).toBe(false);
    w.accept(99_000);
    expect(w.check(99_000)).toBe(false);
    expect(w.check(99_001)).toBe(true);
  });

  it('matches a model set over a random walk', () => {
    const w = new ReplayWindow(256);
    const seen = new Set<number>();
    let top = -1;
    let seed = 7;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let i = 0; i < 20_000; i++) {
      const n = Math.max(0, top + Math.floor(rand() * 40) - 300);
      const expected = !seen.has(n) && (n > top || top - n < 256);
      expect(w.check(n)).toBe(expected);
      if (expected) {
        w.accept(n);
        seen.add(n);
        top = Math.max(top, n);
      }
    }
  });
});
