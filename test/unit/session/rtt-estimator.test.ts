import { describe, expect, it } from 'vitest';
import { RecentIds } from '../../../src/session/recent-ids.js';
import { RttEstimator } from '../../../src/session/rtt-estimator.js';

describe('RttEstimator (RFC 6298)', () => {
  it('starts at 1 s, follows §2.2/§2.3 and clamps to [min, max]', () => {
    const r = new RttEstimator();
    expect(r.rto).toBe(1_000);
    r.sample(100); // SRTT 100, RTTVAR 50 → RTO 100 + 200
    expect(r.srtt).toBe(100);
    expect(r.rto).toBe(300);
    r.sample(200); // RTTVAR = 0.75·50 + 0.25·100 = 62.5; SRTT = 87.5 + 25 = 112.5
    expect(r.srtt).toBeCloseTo(112.5);
    expect(r.rto).toBeCloseTo(112.5 + 250);
    for (let i = 0; i < 50; i++) r.sample(10);
    expect(r.rto).toBe(200); // min RTO
  });

  it('doubles on timeout up to the cap, and a new sample collapses the backoff (§5.5, §5.7)', () => {
    const r = new RttEstimator({ maxRtoMs: 5_000 });
    r.sample(100);
    r.backoff();
    expect(r.rto).toBe(600);
    for (let i = 0; i < 10; i++) r.backoff();
    expect(r.rto).toBe(5_000);
    r.sample(100);
    expect(r.rto).toBeLessThan(600);
    r.reset();
    expect(r.srtt).toBeUndefined();
    expect(r.rto).toBe(1_000);
  });
});

describe('RecentIds', () => {
  it('reports duplicates and forgets the oldest beyond capacity', () => {
    const ids = new RecentIds(3);
    expect(['a', 'b', 'a', 'c', 'd'].map((id) => ids.seen(id))).toEqual([
      false,
      false,
      true,
      false,
      false,
    ]);
    expect(ids.size).toBe(3);
    expect(ids.seen('a')).toBe(false); // forgotten
    expect(ids.seen('d')).toBe(true);
  });
});
