/**
 * The primary's whole-server allocation ledger: caps hold across workers, and a worker's death
 * gives back exactly its leases.
 */
import { describe, expect, it } from 'vitest';
import { AllocationLedger } from '../../../src/server/workers/ledger.js';
import { mergeCounters } from '../../../src/server/workers/merge.js';

describe('AllocationLedger', () => {
  it('per-IP, per-user and whole-server caps count every worker together', () => {
    const l = new AllocationLedger({
      maxAllocations: 5,
      maxAllocationsPerUser: 3,
      maxAllocationsPerIp: 2,
    });
    expect(l.acquire(0, 'u', '10.0.0.1')).toBe('ok');
    expect(l.acquire(1, 'u', '10.0.0.1')).toBe('ok');
    expect(l.acquire(1, 'v', '10.0.0.1')).toBe('quota'); // the IP's 3rd, on any worker
    expect(l.acquire(0, 'u', '10.0.0.2')).toBe('ok');
    expect(l.acquire(1, 'u', '10.0.0.3')).toBe('quota'); // the user's 4th
    expect(l.acquire(1, 'v', '10.0.0.3')).toBe('ok');
    expect(l.acquire(0, 'w', '10.0.0.4')).toBe('ok');
    expect(l.acquire(0, 'x', '10.0.0.5')).toBe('server-full');
    expect(l.total).toBe(5);
    l.release(1, 'v', '10.0.0.3');
    expect(l.acquire(0, 'x', '10.0.0.5')).toBe('ok');
  });

  it("a dead worker's leases are all given back, the others' kept; late releases are ignored", () => {
    const l = new AllocationLedger({
      maxAllocations: 10,
      maxAllocationsPerUser: 10,
      maxAllocationsPerIp: 2,
    });
    l.acquire(0, 'u', 'a');
    l.acquire(0, 'u', 'a');
    l.acquire(1, 'u', 'b');
    l.forget(0);
    expect(l.total).toBe(1);
    l.release(0, 'u', 'a'); // the dead worker's message arriving late
    expect(l.total).toBe(1);
    expect(l.acquire(2, 'u', 'a')).toBe('ok');
    expect(l.acquire(2, 'u', 'a')).toBe('ok');
    expect(l.acquire(2, 'u', 'a')).toBe('quota');
  });

  it('refuses nonsense limits (programmer misuse)', () => {
    expect(
      () =>
        new AllocationLedger({
          maxAllocations: 0,
          maxAllocationsPerUser: 1,
          maxAllocationsPerIp: 1,
        }),
    ).toThrow(RangeError);
  });
});

describe('mergeCounters', () => {
  it('sums numbers and nested objects over workers', () => {
    expect(
      mergeCounters([
        { allocations: 2, dropped: { malformed: 1, bandwidth: 0 } },
        { allocations: 3, dropped: { malformed: 2, bandwidth: 4 } },
      ]),
    ).toEqual({ allocations: 5, dropped: { malformed: 3, bandwidth: 4 } });
  });
});
