/**
 * A predictable NAT measured while other mappings were made on it reads as "random" (its
 * samples' steps are uneven or huge). The prediction layer measures again after a punch ends
 * (no punch running), so the next offer carries the real allocation; a NAT that is random stays
 * random and is measured at most three times in all (prediction-layer.ts, MAX_MEASUREMENTS).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { MemoryNat } from '../../../../src/net/index.js';
import { PunchWorld, STUN, type PeerSide } from '../world.js';

let world: PunchWorld | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

const measurements = (s: PeerSide) => s.logs.filter((l) => l.msg === 'port allocation measured');

/** Advances the clock until `s` logged `n` measurements (or 10 s), calling `each` per ms. */
async function untilMeasured(
  w: PunchWorld,
  s: PeerSide,
  n: number,
  each: () => Promise<void> = async () => {},
): Promise<void> {
  for (let t = 0; t < 10_000 && measurements(s).length < n; t++) {
    await each();
    await w.clock.advanceAsync(1);
  }
  expect(measurements(s)).toHaveLength(n);
}

/** Another host behind `nat` makes `perMs` fresh mappings (one datagram each to serve's STUN). */
function busyHost(w: PunchWorld, nat: MemoryNat, perMs: number): () => Promise<void> {
  const other = w.net.addHost({ addresses: ['192.168.0.99'], behind: nat });
  return async () => {
    for (let i = 0; i < perMs; i++) {
      const s = await other.bindUdp();
      s.send(new Uint8Array([0]), STUN);
      await s.close();
    }
  };
}

describe('prediction layer: a "random" reading is measured again after a punch', () => {
  it('a sequential NAT read as random while another host allocated on it: sequential after the next punch', async () => {
    const w = (world = await PunchWorld.create());
    const nat = w.nat('symmetric', { sequentialDelta: 1 });
    const busy = busyHost(w, nat, 100);
    const a = await w.peer('a', nat, { prediction: true });
    // 100 foreign mappings per ms between the samples: steps far above any sequential delta.
    await untilMeasured(w, a, 1, busy);
    expect(measurements(a)[0]!.fields.pattern).toBe('random'); // the precondition
    expect(a.prediction!.facts()!.allocation).toBe('random');
    // A punch ran (its checks) and ended; the other host is quiet now.
    a.prediction!.punchStarted();
    await w.clock.advanceAsync(50);
    expect(measurements(a)).toHaveLength(1); // not while a punch runs
    a.prediction!.punchEnded();
    await untilMeasured(w, a, 2);
    expect(measurements(a)[1]!.fields).toMatchObject({ pattern: 'sequential', delta: 1 });
    expect(a.prediction!.facts()).toMatchObject({ allocation: 'sequential', delta: 1 });
    // Sequential now: the next punch's end refreshes the counter, it does not measure again.
    a.prediction!.punchStarted();
    a.prediction!.punchEnded();
    await w.clock.advanceAsync(2_000);
    expect(measurements(a)).toHaveLength(2);
    expect(a.logs.some((l) => l.msg === 'port allocation refreshed')).toBe(true);
  });

  it('a random NAT: measured at most three times in all, however many punches end', async () => {
    const w = (world = await PunchWorld.create());
    const a = await w.peer('a', w.nat('symmetric'), { prediction: true });
    await untilMeasured(w, a, 1);
    expect(measurements(a)[0]!.fields.pattern).toBe('random');
    for (let i = 0; i < 6; i++) {
      a.prediction!.punchStarted();
      a.prediction!.punchEnded();
      await w.clock.advanceAsync(3_000);
    }
    expect(measurements(a)).toHaveLength(3);
    expect(measurements(a).every((m) => m.fields.pattern === 'random')).toBe(true);
    expect(a.prediction!.facts()!.allocation).toBe('random');
  });
});
