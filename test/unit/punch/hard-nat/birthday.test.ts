/**
 * Birthday probing (src/punch/birthday.ts): the probability formula against known values and a
 * Monte-Carlo estimate, plan bounds, and whole runs on in-memory NATs (manual clock): random-port
 * symmetric × port-restricted gets through within the time limit and closes every spare socket;
 * the measured success rate over many seeded runs agrees with the plan's prediction.
 */
import { describe, expect, it } from 'vitest';
import { MemoryNetwork } from '../../../../src/net/memory-network.js';
import {
  birthdaySuccessProbability,
  planBirthday,
  probesForProbability,
  runEasySide,
  runHardSide,
} from '../../../../src/punch/birthday.js';
import { ManualClock } from '../../../../src/util/clock.js';

describe('success probability', () => {
  it('matches the closed form and the usual numbers', () => {
    expect(birthdaySuccessProbability(256, 1024, 64512)).toBeCloseTo(0.983, 3);
    expect(birthdaySuccessProbability(256, 2048, 64512)).toBeGreaterThan(0.9996);
    expect(birthdaySuccessProbability(0, 100, 64512)).toBe(0);
    expect(birthdaySuccessProbability(10, 10, 15)).toBe(1);
  });

  it('agrees with a Monte-Carlo estimate (small space)', () => {
    let seed = 1;
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const N = 1000;
    const n = 20;
    const k = 50;
    let hits = 0;
    const trials = 4000;
    for (let t = 0; t < trials; t++) {
      const open = new Set<number>();
      while (open.size < n) open.add(Math.floor(rnd() * N));
      const plan = planBirthday({ hardSockets: n, budget: k, portRange: [1, N], random: rnd });
      if (plan.probePorts.some((p) => open.has(p - 1))) hits++;
    }
    expect(hits / trials).toBeCloseTo(birthdaySuccessProbability(n, k, N), 1);
  });

  it('probesForProbability inverts it', () => {
    const k = probesForProbability(256, 0.95, 64512);
    expect(birthdaySuccessProbability(256, k, 64512)).toBeGreaterThanOrEqual(0.95);
    expect(birthdaySuccessProbability(256, k - 1, 64512)).toBeLessThan(0.95);
  });
});

describe('plan', () => {
  it('distinct ports in range, excluded ports left out, bounded budget', () => {
    const plan = planBirthday({ budget: 3000, exclude: [5000] });
    expect(new Set(plan.probePorts).size).toBe(3000);
    expect(plan.probePorts.every((p) => p >= 1024 && p <= 65535 && p !== 5000)).toBe(true);
    expect(plan.expectedSuccess).toBeGreaterThan(0.99);
    expect(() => planBirthday({ budget: 1e6 })).toThrow(RangeError);
    expect(() => planBirthday({ hardSockets: 0 })).toThrow(RangeError);
  });

  it('a budget larger than the space sweeps the space', () => {
    const plan = planBirthday({ budget: 100, portRange: [1000, 1049] });
    expect(plan.probePorts.sort((a, b) => a - b)).toEqual(
      Array.from({ length: 50 }, (_, i) => 1000 + i),
    );
    expect(plan.expectedSuccess).toBe(1);
  });
});

async function attempt(seed: number, budget: number, hardSockets: number) {
  const clock = new ManualClock();
  const net = new MemoryNetwork({ clock, seed, latencyMs: 5 });
  const hardNat = net.addNat({
    publicAddress: '203.0.113.100',
    behavior: {
      mapping: 'address-and-port-dependent',
      filtering: 'address-and-port-dependent',
      portPreservation: false,
    },
  });
  const easyNat = net.addNat({
    publicAddress: '203.0.113.101',
    behavior: { filtering: 'address-and-port-dependent' },
  });
  const hard = net.addHost({ addresses: ['192.168.1.10'], behind: hardNat });
  const easy = net.addHost({ addresses: ['192.168.2.10'], behind: easyNat });
  const easySock = await easy.bindUdp({ port: 40000 });
  // Port preservation: the easy side's public endpoint is 203.0.113.101:40000 (its srflx).
  let s = seed;
  const random = (): number => (s = (s * 48271) % 2147483647) / 2147483647;
  const plan = planBirthday({ hardSockets, budget, random, timeLimitMs: 20_000 });
  const hardRun = runHardSide(
    { net: hard, clock },
    { address: '203.0.113.101', port: 40000 },
    plan,
  );
  await clock.advanceAsync(20); // the hard side's first spray leaves first
  const easyRun = runEasySide({ clock }, easySock, '203.0.113.100', plan);
  for (let t = 0; t < 21_000 && !(await settled(easyRun)); t += 50) await clock.advanceAsync(50);
  await clock.advanceAsync(100);
  const [h, e] = await Promise.all([hardRun, easyRun]);
  await h?.socket.close();
  await easySock.close();
  return { h, e, plan, hardNat };
}

async function settled(p: Promise<unknown>): Promise<boolean> {
  return Promise.race([p.then(() => true), Promise.resolve(false)]);
}

describe('runs on memory NATs: random-port symmetric × port-restricted', () => {
  it('gets through with the default plan within the time limit and budget', async () => {
    const { h, e, plan } = await attempt(11, 2048, 256);
    expect(h).toBeDefined();
    expect(e).toBeDefined();
    expect(e!.remote.address).toBe('203.0.113.100');
    expect(h!.remote).toMatchObject({ address: '203.0.113.101', port: 40000 });
    expect(e!.elapsedMs).toBeLessThan(plan.timeLimitMs);
    expect(e!.probesSent).toBeLessThanOrEqual(plan.probePorts.length * 2);
  });

  it('the success rate over seeded runs matches the prediction of a small budget', async () => {
    // n = 32, k = 512 → P ≈ 22.4 %; 60 runs, a loose bound that still catches an off-by-10×.
    let ok = 0;
    const runs = 60;
    let plan;
    for (let i = 0; i < runs; i++) {
      const r = await attempt(100 + i, 512, 32);
      plan = r.plan;
      if (r.e) ok++;
    }
    const p = plan!.expectedSuccess;
    expect(p).toBeGreaterThan(0.2);
    expect(p).toBeLessThan(0.25);
    expect(ok / runs).toBeGreaterThan(p - 0.15);
    expect(ok / runs).toBeLessThan(p + 0.15);
  }, 60_000);
});
