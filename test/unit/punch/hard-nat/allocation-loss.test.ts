/**
 * measureAllocation on a lossy path (allocation-probe.ts): a sample whose answers are all lost
 * is replaced by one from a fresh socket (bounded), the pattern is classified from what
 * answered — a lost sample on a sequential NAT may still have taken a port — and too few
 * answers fail with a typed error. MemoryNetwork + ManualClock: no sleeps.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryNetwork, type MemoryHost } from '../../../../src/net/memory-network.js';
import type { NatBehavior } from '../../../../src/net/nat-behavior.js';
import type { Packet } from '../../../../src/net/memory-nat.js';
import {
  measureAllocation,
  type AllocationMeasurement,
} from '../../../../src/punch/allocation-probe.js';
import { classifyAllocation } from '../../../../src/punch/port-prediction.js';
import { StunServer } from '../../../../src/stun/index.js';
import { ManualClock } from '../../../../src/util/clock.js';

const SERVER = { address: '203.0.113.1', port: 3478 };
const PUBLIC = '198.51.100.7';
const SYM: Partial<NatBehavior> = {
  mapping: 'address-and-port-dependent',
  filtering: 'address-and-port-dependent',
  portPreservation: false,
};

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

interface Lab {
  clock: ManualClock;
  net: MemoryNetwork;
  host: MemoryHost;
}

async function lab(behavior: Partial<NatBehavior>): Promise<Lab> {
  const clock = new ManualClock();
  const net = new MemoryNetwork({ clock, seed: 3 });
  const server = await StunServer.start({
    net: net.addHost({ addresses: [SERVER.address] }),
    clock,
    listen: SERVER,
  });
  cleanup.push(() => server.close());
  const nat = net.addNat({ publicAddress: PUBLIC, behavior });
  return { clock, net, host: net.addHost({ addresses: ['192.168.1.2'], behind: nat }) };
}

/**
 * Drops every answer to the mappings numbered in `lose` (0 = the first mapping the NAT made
 * toward the server): the request got through the NAT — the mapping exists — the answer not.
 */
function loseAnswers(net: MemoryNetwork, lose: number[]): () => number[] {
  const order: number[] = [];
  net.dropIf((p: Packet) => {
    if (p.src.address === PUBLIC && p.dst.address === SERVER.address) {
      if (!order.includes(p.src.port)) order.push(p.src.port);
    }
    if (p.src.address !== SERVER.address || p.dst.address !== PUBLIC) return false;
    return lose.includes(order.indexOf(p.dst.port));
  });
  return () => order;
}

/** Runs the measurement, moving the clock in 10 ms steps until it settles (60 s at most). */
async function run(
  l: Lab,
  extra: { maxLost?: number } = {},
): Promise<AllocationMeasurement | Error> {
  let out: AllocationMeasurement | Error | undefined;
  void measureAllocation({ net: l.host, clock: l.clock, server: SERVER, ...extra }).then(
    (m) => (out = m),
    (e: Error) => (out = e),
  );
  for (let t = 0; t < 60_000 && out === undefined; t += 10) await l.clock.advanceAsync(10);
  expect(out).toBeDefined();
  return out!;
}

describe('measureAllocation tolerates lost samples', () => {
  it('sequential NAT, the 2nd sample lost after it took a port: sequential delta 1 from the rest', async () => {
    const l = await lab({ ...SYM, sequentialDelta: 1 });
    const mappings = loseAnswers(l.net, [1]);
    const m = await run(l);
    if (m instanceof Error) throw m;
    expect(m.pattern).toEqual({ kind: 'sequential', delta: 1 });
    expect(m.lost).toBe(1);
    expect(m.samples).toHaveLength(4);
    expect(m.samples.map((s) => s.attempt)).toEqual([0, 2, 3, 4]);
    // The lost sample's mapping was made (the hole in the mapped ports is its port).
    const ports = m.samples.map((s) => s.mappedPort);
    expect(ports[1]! - ports[0]!).toBe(2);
    expect(mappings()).toHaveLength(5);
  });

  it('sequential NAT delta 2 with two holes (answers lost on the 2nd and 4th mappings)', async () => {
    const l = await lab({ ...SYM, sequentialDelta: 2 });
    loseAnswers(l.net, [1, 3]);
    const m = await run(l);
    if (m instanceof Error) throw m;
    expect(m.lost).toBe(2);
    expect(m.pattern).toEqual({ kind: 'sequential', delta: 2 });
  });

  it('preserving NAT with a lost sample: preserving', async () => {
    const l = await lab({ ...SYM, portPreservation: true });
    loseAnswers(l.net, [0]);
    const m = await run(l);
    if (m instanceof Error) throw m;
    expect(m).toMatchObject({ pattern: { kind: 'preserving' }, lost: 1 });
  });

  it('too few answers: a typed error, as soon as MIN_SAMPLES is out of reach; every socket closed', async () => {
    const l = await lab({ ...SYM, sequentialDelta: 1 });
    const mappings = loseAnswers(l.net, [0, 1, 2, 3]);
    const bound: number[] = [];
    const bind = l.host.bindUdp.bind(l.host);
    l.host.bindUdp = async (o) => {
      const s = await bind(o);
      bound.push(s.address().port);
      return s;
    };
    const err = await run(l, { maxLost: 2 });
    expect(err).toBeInstanceOf(Error);
    expect((err as Error & { code?: string }).code).toBe('NATPUSH_ERR_PUNCH_ALLOCATION_UNMEASURED');
    // 4 lost of at most 4 + 2 sockets: two attempts left cannot make 3 answers.
    expect(bound).toHaveLength(4);
    expect(mappings()).toHaveLength(4);
    // Closed: the same ports bind again.
    for (const p of [...bound]) await (await bind({ port: p })).close();
  });

  it('aborted (the Peer closing): rejects at once, without waiting for STUN timeouts; every socket closed', async () => {
    const l = await lab({ ...SYM, sequentialDelta: 1 });
    loseAnswers(l.net, [0, 1, 2, 3, 4, 5]);
    const bound: number[] = [];
    const bind = l.host.bindUdp.bind(l.host);
    l.host.bindUdp = async (o) => {
      const s = await bind(o);
      bound.push(s.address().port);
      return s;
    };
    const abort = new AbortController();
    let out: unknown;
    void measureAllocation({
      net: l.host,
      clock: l.clock,
      server: SERVER,
      timeoutMs: 60_000,
      signal: abort.signal,
    }).then(
      (m) => (out = m),
      (e: unknown) => (out = e),
    );
    await l.clock.advanceAsync(500); // the first sample's request is out, unanswered
    expect(out).toBeUndefined();
    abort.abort();
    // No clock movement: only the abort can settle it (its sample's timeout is 60 s away).
    await expect.poll(() => out).toBeDefined();
    expect((out as Error & { code?: string }).code).toBe('NATPUSH_ERR_STUN_ABORTED');
    expect(bound).toHaveLength(1);
    // Closed: the same port binds again.
    for (const p of [...bound]) await (await bind({ port: p })).close();
  });

  it('three lost of 4 + 2: the three answers still classify', async () => {
    const l = await lab({ ...SYM, sequentialDelta: 1 });
    loseAnswers(l.net, [0, 1, 2]);
    const m = await run(l);
    if (m instanceof Error) throw m;
    expect(m).toMatchObject({ pattern: { kind: 'sequential', delta: 1 }, lost: 3 });
    expect(m.samples).toHaveLength(3);
  });
});

describe('classifyAllocation with holes (attempt numbers)', () => {
  const seq = (ports: [number, number][]) =>
    ports.map(([attempt, mappedPort]) => ({ localPort: 50_000 + attempt, mappedPort, attempt }));

  it.each([
    [
      'a hole that took a port',
      seq([
        [0, 1000],
        [2, 1002],
        [3, 1003],
        [4, 1004],
      ]),
      1,
    ],
    [
      'a hole that took none',
      seq([
        [0, 1000],
        [2, 1001],
        [3, 1002],
        [4, 1003],
      ]),
      1,
    ],
    [
      'two holes, delta 1',
      seq([
        [0, 1000],
        [2, 1002],
        [4, 1004],
        [5, 1005],
      ]),
      1,
    ],
    [
      'two holes, delta 2, ports taken',
      seq([
        [0, 1000],
        [2, 1004],
        [4, 1008],
        [5, 1010],
      ]),
      2,
    ],
    [
      'two holes, delta 2, none taken',
      seq([
        [0, 1000],
        [2, 1002],
        [4, 1004],
        [5, 1006],
      ]),
      2,
    ],
    [
      'downward, a hole',
      seq([
        [0, 9000],
        [1, 8999],
        [3, 8996],
        [4, 8995],
      ]),
      -1,
    ],
  ])('%s', (_name, samples, delta) => {
    expect(classifyAllocation(samples)).toEqual({ kind: 'sequential', delta });
  });

  it('a hole does not turn random ports sequential', () => {
    const s = seq([
      [0, 41_000],
      [2, 13_007],
      [3, 52_113],
      [4, 7_001],
    ]);
    expect(classifyAllocation(s)).toEqual({ kind: 'random' });
  });
});
