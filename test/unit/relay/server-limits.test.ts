/**
 * The TURN server and client on the in-memory network with a manual clock — caps, the peer gate
 * and error replies (issue 8): per-address caps, gates in memory and elsewhere, the whole server’s
 * bandwidth, error-reply limits and budget. Split from server.test.ts by concern (assertions
 * unchanged); the world is turn-world.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { UdpSocket } from '../../../src/net/index.js';
import {
  SERVER,
  settle,
  setup,
  peer,
  clientHost,
  client,
  allocateRequest,
  closeWorld,
} from './turn-world.js';

afterEach(closeWorld);

describe('TURN server: caps, peer gate and error replies (issue 8)', () => {
  it('caps allocations per client address (486) across user names', async () => {
    const w = await setup({ maxAllocationsPerIp: 2 });
    const host = clientHost(w); // one NAT: every client below shares its public address
    const open = (user: string) => client(w, user, { net: host });
    await open('u1');
    await open('u2');
    await expect(open('u3')).rejects.toMatchObject({ status: 486 });
    // Another address is not affected.
    expect((await client(w, 'u4')).relayedAddress.port).toBeGreaterThan(0);
  });

  it('a peer gate decides who may be given a permission; it hears of every allocation', async () => {
    const noted: string[] = [];
    const w = await setup({
      peerGate: {
        noteAllocation: (user, c, r) => void noted.push(`${user} ${c.address} ${r.address}`),
        allows: (user, ip) => user === 'alice' && ip === '198.51.100.30',
      },
    });
    const p = await peer(w, '198.51.100.30');
    const alice = await client(w, 'alice');
    const eve = await client(w, 'eve');
    expect(noted).toHaveLength(2);
    expect(noted[0]).toMatch(/^alice 198\.51\.100\.\d+ 203\.0\.113\.1$/);
    await alice.bindChannel(p.socket.address());
    await expect(eve.bindChannel(p.socket.address())).rejects.toMatchObject({ status: 403 });
    await expect(alice.createPermission('198.51.100.31')).rejects.toMatchObject({ status: 403 });
    expect(w.server.counters.peerGateRefused).toBe(2);
  });

  it('a gate that keeps its knowledge elsewhere is awaited: notes before the Allocate answer, prepare before a permission', async () => {
    // What the fleet relay's Redis gate does (src/cluster/relay-peer-gate.ts): noteAllocation and
    // prepare are asynchronous; allows() answers from what prepare left.
    const seen = new Set<string>();
    const verdicts = new Set<string>();
    const events: string[] = [];
    const later = (): Promise<void> => new Promise((r) => setImmediate(r));
    const w = await setup({
      peerGate: {
        noteAllocation: async (user, c) => {
          await later();
          seen.add(c.address);
          events.push(`noted ${user}`);
        },
        prepare: async (user, ips) => {
          await later();
          for (const ip of ips) if (seen.has(ip)) verdicts.add(`${user} ${ip}`);
          events.push(`prepared ${user} ${ips.join(',')}`);
        },
        allows: (user, ip) => verdicts.has(`${user} ${ip}`),
      },
    });
    const alice = await client(w, 'alice');
    events.push('alice allocated');
    const bob = await client(w, 'bob');
    const bobAt = [...seen].find((ip) => ip !== [...seen][0])!;
    await alice.createPermission(bobAt);
    await expect(alice.createPermission('198.51.100.31')).rejects.toMatchObject({ status: 403 });
    expect(events).toEqual([
      'noted alice',
      'alice allocated',
      'noted bob',
      `prepared alice ${bobAt}`,
      'prepared alice 198.51.100.31',
    ]);
    expect(bob.relayedAddress.port).toBeGreaterThan(0);
  });

  it('the whole server’s bandwidth cap drops beyond its burst and counts it', async () => {
    const w = await setup({ totalBytesPerSecond: 1_000 });
    const p = await peer(w, '198.51.100.40');
    const c = await client(w);
    await c.bindChannel(p.socket.address());
    for (let i = 0; i < 80; i++) c.send(p.socket.address(), new Uint8Array(1_000));
    await settle();
    // Burst: MIN_BUCKET_BYTES (64 KiB) → 65 packets of 1000 bytes, the rest dropped.
    expect(p.got.length).toBe(65);
    expect(w.server.counters.dropped['total-bandwidth']).toBe(15);
  });

  it('error replies to one source are rate limited (burst 400, then 200/s)', async () => {
    const w = await setup();
    const socket = await clientHost(w, 'full-cone').bindUdp({ port: 0 });
    w.closers.push(() => socket.close());
    let replies = 0;
    socket.onMessage(() => replies++);
    const req = allocateRequest().build();
    for (let i = 0; i < 500; i++) socket.send(req, SERVER);
    await settle();
    expect(replies).toBe(400);
    expect(w.server.counters.dropped['error-rate-limited']).toBe(100);
    await w.clock.advanceAsync(1_000);
    for (let i = 0; i < 300; i++) socket.send(req, SERVER);
    await settle();
    expect(replies).toBe(600);
  });

  it('error replies of all sources together stay within the bytes/s budget (spoofed sources)', async () => {
    // Each source stays far under its own limit (burst 400): only the process-wide budget binds,
    // as when a flood spoofs a new source address per packet.
    const budget = 10_000;
    const w = await setup({ errorReplyBytesPerSecond: budget });
    const sources: UdpSocket[] = [];
    let replies = 0;
    let wire = 0;
    for (let i = 0; i < 50; i++) {
      const s = await w.net.addHost({ addresses: [`198.18.0.${i + 1}`] }).bindUdp({ port: 4000 });
      w.closers.push(() => s.close());
      s.onMessage((d) => {
        replies++;
        wire += d.length + 28; // IPv4 + UDP headers, as the budget counts them
      });
      sources.push(s);
    }
    const req = allocateRequest().build();
    const flood = async (): Promise<void> => {
      for (let round = 0; round < 20; round++) for (const s of sources) s.send(req, SERVER);
      await settle();
    };
    await flood();
    expect(replies).toBeGreaterThan(0);
    expect(wire).toBeLessThanOrEqual(budget);
    const each = wire / replies; // every reply is the same 401
    expect(wire).toBeGreaterThan(budget - each); // the budget is used, not undershot
    expect(w.server.counters.dropped['error-budget']).toBe(1_000 - replies);
    expect(w.server.counters.dropped['error-rate-limited']).toBe(0);
    // A second later the budget has refilled by a second's worth, and no more.
    const before = replies;
    await w.clock.advanceAsync(1_000);
    await flood();
    expect(replies - before).toBe(Math.floor(budget / each));
  });

  it('the error-reply budget cannot be switched off', async () => {
    await expect(setup({ errorReplyBytesPerSecond: 0 })).rejects.toThrow(RangeError);
    await expect(setup({ errorReplyBytesPerSecond: Infinity })).rejects.toThrow(RangeError);
  });
});
