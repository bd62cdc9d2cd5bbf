/**
 * RepunchPolicy (src/peer/repunch-policy.ts), the re-punch timing split out of PeerLink: the
 * backoff doubles per failure up to its cap, a direct success starts it again, a death while a
 * punch runs re-punches the moment that punch ends, and a lost relay allocation re-punches at
 * once. Virtual time only (ManualClock).
 */
import { describe, expect, it } from 'vitest';
import { RepunchPolicy } from '../../../src/peer/repunch-policy.js';
import { ManualClock } from '../../../src/util/clock.js';

function setup(o: { established?: boolean } = {}) {
  const clock = new ManualClock();
  const start = clock.now();
  const punches: number[] = [];
  const state = { closed: false, established: o.established ?? true };
  const policy = new RepunchPolicy({
    clock,
    backoff: { initial: 1_000, max: 4_000 },
    closed: () => state.closed,
    established: () => state.established,
    punch: () => punches.push(clock.now() - start),
  });
  return { clock, policy, punches, state, start };
}

describe('RepunchPolicy', () => {
  it('backs off 1, 2, 4, 4 s over failures; a success starts again at 1 s', () => {
    const { clock, policy, punches } = setup();
    const expectGap = (gap: number) => {
      const n = punches.length;
      policy.schedule();
      policy.schedule(); // a second call while one waits changes nothing
      expect(policy.waiting).toBe(true);
      clock.advance(gap - 1);
      expect(punches).toHaveLength(n);
      clock.advance(1);
      expect(punches).toHaveLength(n + 1);
      expect(policy.waiting).toBe(false);
    };
    for (const gap of [1_000, 2_000, 4_000, 4_000]) {
      policy.failed();
      expectGap(gap);
    }
    policy.succeeded();
    policy.failed();
    expectGap(1_000);
  });

  it('a path down while a punch runs: nothing until it ends, then a punch at once', () => {
    const { clock, policy, punches } = setup();
    policy.down('consent lost: timeout', true);
    expect(policy.waiting).toBe(false);
    clock.advance(60_000);
    expect(punches).toEqual([]);
    policy.afterPunch('no pair answered', false);
    expect(punches).toEqual([60_000]);
    // Once per death: the next failure backs off as usual.
    policy.afterPunch('no pair answered', false);
    expect(punches).toHaveLength(1);
  });

  it('a path down with no punch running schedules the backoff', () => {
    const { clock, policy, punches } = setup();
    policy.down('consent lost: timeout', false);
    expect(policy.waiting).toBe(true);
    clock.advance(1_000);
    expect(punches).toEqual([1_000]);
  });

  it('a lost relay allocation re-punches at once and resets the backoff', () => {
    const { clock, policy, punches } = setup();
    for (let i = 0; i < 3; i++) policy.failed();
    policy.schedule(); // 4 s away
    policy.afterPunch('relay allocation lost (ours, offered in this punch)', false);
    expect(policy.waiting).toBe(false);
    expect(punches).toEqual([0]);
    policy.failed();
    policy.schedule();
    clock.advance(1_000); // back to the first step
    expect(punches).toEqual([0, 1_000]);
  });

  it('a live path after the punch, a closed link, no keys: no punch', () => {
    const a = setup();
    a.policy.down('consent lost', true);
    a.policy.afterPunch('x', true);
    expect(a.policy.waiting).toBe(false);
    const b = setup();
    b.state.closed = true;
    b.policy.schedule();
    expect(b.policy.waiting).toBe(false);
    const c = setup({ established: false });
    c.policy.down('consent lost', true);
    c.policy.afterPunch('x', false); // no keys: the backoff instead
    expect(c.policy.waiting).toBe(true);
    c.clock.advance(60_000);
    expect(c.punches).toEqual([]);
    c.policy.cancel();
  });
});
