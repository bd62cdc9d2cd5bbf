/**
 * The hard-NAT step both sides derive from the facts in their rendezvous frames
 * (punch/nat-facts.ts): they must agree (each runs it with the two fact sets swapped), unknown
 * facts fall back to the ordinary punch, and the issue-11 cells map to their technique.
 */
import { describe, expect, it } from 'vitest';
import {
  BIRTHDAY_STEP_LIMIT_MS,
  graceFor,
  PREDICTION_GRACE_MS,
  predictionRemotes,
} from '../../../../src/punch/hard-nat-step.js';
import { predictedPriority } from '../../../../src/punch/predicted-candidates.js';
import { hardNatRole, type WireNatFacts } from '../../../../src/punch/nat-facts.js';

const cone: WireNatFacts = { mapping: 'endpoint-independent', allocation: 'preserving' };
const random: WireNatFacts = { mapping: 'address-and-port-dependent', allocation: 'random' };
const sequential: WireNatFacts = {
  mapping: 'address-and-port-dependent',
  allocation: 'sequential',
  delta: 1,
};
const mapped: WireNatFacts = { ...random, portMapping: true };

describe('hardNatRole', () => {
  it('random symmetric × cone: birthday, the symmetric side hard, on both sides alike', () => {
    expect(hardNatRole(random, cone)).toEqual({ kind: 'birthday', side: 'hard' });
    expect(hardNatRole(cone, random)).toEqual({ kind: 'birthday', side: 'easy' });
  });

  it('random symmetric × anything symmetric without a mapping: the relay at once', () => {
    expect(hardNatRole(random, random)).toEqual({ kind: 'relay' });
    expect(hardNatRole(random, sequential)).toEqual({ kind: 'relay' });
    expect(hardNatRole(sequential, random)).toEqual({ kind: 'relay' });
  });

  it('predictable × predictable: prediction (the predicted candidates carry it)', () => {
    expect(hardNatRole(sequential, sequential)).toEqual({ kind: 'prediction' });
  });

  it('a preserving side: its reserved port on both sides, swapped', () => {
    const pres = (port: number): WireNatFacts => ({
      mapping: 'address-and-port-dependent',
      allocation: 'preserving',
      preservedPort: port,
    });
    expect(hardNatRole(pres(5000), pres(6000))).toEqual({
      kind: 'prediction',
      ownPreserved: 5000,
      peerPreserved: 6000,
    });
    expect(hardNatRole(sequential, pres(6000))).toEqual({
      kind: 'prediction',
      peerPreserved: 6000,
    });
    expect(hardNatRole(pres(5000), cone)).toEqual({ kind: 'prediction', ownPreserved: 5000 });
    // A port on a side that is not preserving is not believed.
    expect(hardNatRole({ ...sequential, preservedPort: 7000 }, sequential)).toEqual({
      kind: 'prediction',
    });
    // Nor on a cone: its one socket has its endpoint-independent mapping.
    expect(hardNatRole({ ...cone, preservedPort: 7000 }, sequential)).toEqual({
      kind: 'prediction',
    });
  });

  it('a port mapping on either side wins over everything', () => {
    expect(hardNatRole(mapped, random)).toEqual({ kind: 'candidates', technique: 'mapping' });
    expect(hardNatRole(random, mapped)).toEqual({ kind: 'candidates', technique: 'mapping' });
  });

  it('a cone whose filtering is known to let the new mapping in: the ordinary punch', () => {
    const fullCone: WireNatFacts = { ...cone, filtering: 'endpoint-independent' };
    expect(hardNatRole(random, fullCone)).toEqual({ kind: 'candidates', technique: 'punch' });
  });

  it('unknown facts on either side: no step (the ordinary punch, then the relay)', () => {
    expect(hardNatRole(undefined, cone)).toEqual({ kind: 'none' });
    expect(hardNatRole(random, undefined)).toEqual({ kind: 'none' });
    expect(hardNatRole({ allocation: 'random' }, cone)).toEqual({ kind: 'none' });
  });
});

describe('graceFor', () => {
  it('relay: no direct grace; birthday: past the step; otherwise unchanged', () => {
    expect(graceFor({ kind: 'relay' }, 3_000)).toBe(0);
    expect(graceFor({ kind: 'birthday', side: 'hard' }, 3_000)).toBeGreaterThan(
      BIRTHDAY_STEP_LIMIT_MS,
    );
    expect(graceFor({ kind: 'none' }, 3_000)).toBe(3_000);
    expect(graceFor({ kind: 'prediction', ownPreserved: 5000 }, 3_000)).toBe(PREDICTION_GRACE_MS);
    expect(graceFor({ kind: 'prediction' }, 3_000)).toBe(3_000);
  });
});

describe('predictionRemotes', () => {
  const remote = [
    { type: 'host' as const, address: '192.168.0.2', port: 4000, priority: 2_000_000_000 },
    { type: 'srflx' as const, address: '198.51.100.7', port: 4000, priority: 1_600_000_000 },
  ];
  it("the peer's preserved port on its public address, ranked first", () => {
    expect(predictionRemotes({ kind: 'prediction', peerPreserved: 6000 }, remote)).toEqual([
      { type: 'srflx', address: '198.51.100.7', port: 6000, priority: predictedPriority(0) },
    ]);
  });
  it('none when we punch from a preserved socket ourselves, or nothing was sent', () => {
    const both = { kind: 'prediction' as const, ownPreserved: 5000, peerPreserved: 6000 };
    expect(predictionRemotes(both, remote)).toEqual([]);
    expect(predictionRemotes({ kind: 'prediction' }, remote)).toEqual([]);
    expect(predictionRemotes({ kind: 'prediction', peerPreserved: 6000 }, [remote[0]!])).toEqual(
      [],
    );
  });
});
