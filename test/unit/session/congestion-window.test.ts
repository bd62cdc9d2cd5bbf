import { describe, expect, it } from 'vitest';
import { CongestionWindow } from '../../../src/session/congestion-window.js';

const make = () => new CongestionWindow({ initial: 4, min: 2, max: 64 });

describe('CongestionWindow', () => {
  it('slow start: +1 per acked packet, so the window doubles per round trip', () => {
    const w = make();
    let pn = 0;
    for (let rtt = 0; rtt < 3; rtt++) {
      const n = w.packets;
      for (let i = 0; i < n; i++) w.onAcked(pn++);
    }
    expect(w.packets).toBe(32); // 4 → 8 → 16 → 32
    expect(w.inSlowStart).toBe(true);
  });

  it('never grows past max', () => {
    const w = make();
    for (let pn = 0; pn < 10_000; pn++) w.onAcked(pn);
    expect(w.packets).toBe(64);
    expect(w.stats.peak).toBe(64);
  });

  it('halves on a loss, once per recovery period, then grows by one per window', () => {
    const w = make();
    for (let pn = 0; pn < 28; pn++) w.onAcked(pn); // 32
    w.onLoss(20, 100); // packets up to 99 were sent before the reduction
    expect(w.packets).toBe(16);
    w.onLoss(25, 100); // same congestion event: no second halving
    w.onLoss(99, 104);
    expect(w.packets).toBe(16);
    expect(w.stats.reductions).toBe(1);
    for (let pn = 30; pn < 100; pn++) w.onAcked(pn); // acks of pre-recovery packets: no growth
    expect(w.packets).toBe(16);
    expect(w.inSlowStart).toBe(false);
    for (let pn = 100; pn < 116; pn++) w.onAcked(pn); // one window's worth: +1
    expect(w.packets).toBe(17);
    w.onLoss(120, 140); // a new event halves again
    expect(w.packets).toBe(8);
    expect(w.stats.reductions).toBe(2);
  });

  it('an RTO drops to min; slow start resumes up to half the old window', () => {
    const w = make();
    for (let pn = 0; pn < 28; pn++) w.onAcked(pn); // 32
    w.onTimeout(50);
    expect(w.packets).toBe(2);
    for (let pn = 50; pn < 64; pn++) w.onAcked(pn); // 2 → 16 in slow start
    expect(w.packets).toBe(16);
    expect(w.inSlowStart).toBe(false);
    w.onAcked(64);
    expect(w.packets).toBe(16); // congestion avoidance now
  });

  it('never goes below min, and reset() restarts slow start', () => {
    const w = make();
    for (let i = 0; i < 10; i++) w.onLoss(1000 * i, 1000 * i + 1);
    expect(w.packets).toBe(2);
    w.reset();
    expect(w.packets).toBe(4);
    expect(w.inSlowStart).toBe(true);
  });

  it('refuses inconsistent bounds', () => {
    expect(() => new CongestionWindow({ initial: 1, min: 2, max: 8 })).toThrow(RangeError);
    expect(() => new CongestionWindow({ initial: 16, min: 2, max: 8 })).toThrow(RangeError);
  });
});
