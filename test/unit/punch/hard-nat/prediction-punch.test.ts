/**
 * Port prediction through the whole punch (issue 11), on the in-memory network: connectors with
 * the Peer's hard-NAT layers (prediction-layer.ts, birthday-layer.ts), serve's STUN and TURN,
 * the NAT facts in the rendezvous frames, behind RFC 4787 NATs whose mapping is
 * address-and-port-dependent but whose allocation is predictable.
 * - preserving × preserving, preserving × port-restricted, preserving × sequential: direct, on
 *   the fresh socket whose port the facts named (`preservedPort`);
 * - sequential × sequential: direct on a predicted port;
 * - sequential × sequential whose counter moved after the measurement (another host's mappings):
 *   the first punch ends on the relay, the prediction layer looks at the counter again, and the
 *   next punch is direct on a predicted port (prediction after the first punch);
 * - control: the same preserving pair without the layers ends on the relay.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { MemoryNat } from '../../../../src/net/index.js';
import { punch, PunchWorld, STUN, type PeerSide } from '../world.js';

let world: PunchWorld | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

const preserving = (w: PunchWorld): MemoryNat => w.nat('symmetric', { portPreservation: true });
const sequential = (w: PunchWorld): MemoryNat => w.nat('symmetric', { sequentialDelta: 1 });

/** Both sides measured their NAT and their offers carry the facts (and the reserved socket). */
async function measured(w: PunchWorld, ...sides: PeerSide[]): Promise<void> {
  const ready = (s: PeerSide): boolean => {
    const f = s.prediction?.facts();
    // A preserving symmetric NAT's side also reserved its socket (a cone's does not).
    const symmetric = f?.allocation === 'preserving' && f.mapping === 'address-and-port-dependent';
    return f !== undefined && (!symmetric || f.preservedPort !== undefined);
  };
  for (let t = 0; t < 10_000 && !sides.every(ready); t += 5) await w.clock.advanceAsync(5);
  for (const s of sides) expect(ready(s)).toBe(true);
  await w.clock.advanceAsync(200); // the re-gather behind onReady
}

function results(s: PeerSide): Record<string, unknown>[] {
  return s.logs.filter((l) => l.msg === 'hard-NAT result').map((l) => l.fields);
}

describe('port prediction through the punch connector', () => {
  it.each([
    ['preserving', 'preserving'],
    ['preserving', 'port-restricted'],
    ['preserving', 'sequential'],
  ] as const)('%s × %s: direct on the preserved socket', async (x, y) => {
    const w = (world = await PunchWorld.create());
    const nat = (k: 'preserving' | 'sequential' | 'port-restricted'): MemoryNat =>
      k === 'preserving' ? preserving(w) : k === 'sequential' ? sequential(w) : w.nat(k);
    const a = await w.peer('a', nat(x), { prediction: true, offers: true });
    const b = await w.peer('b', nat(y), { prediction: true, offers: true });
    await measured(w, a, b);
    const port = a.prediction!.facts()!.preservedPort!;
    const [pa, pb] = await punch(w, a, b);
    expect(pa.kind).toBe('direct');
    expect(pb.kind).toBe('direct');
    // A's end is the reserved socket, its mapping the very port the facts named.
    expect(pa.local.port).toBe(port);
    expect(pb.remote.port).toBe(port);
    expect(results(a)).toEqual([
      expect.objectContaining({ path: 'direct', how: 'preserved port' }),
    ]);
    // The other side selected the pair to that port: a predicted remote, or its own socket too.
    expect(results(b)[0]?.path).toBe('direct');
    // The next offer names a new reserved socket.
    await w.clock.advanceAsync(200);
    expect(a.prediction!.facts()!.preservedPort).not.toBe(port);
    pa.close();
    pb.close();
  });

  it('sequential × sequential: direct on a predicted port', async () => {
    const w = (world = await PunchWorld.create());
    const a = await w.peer('a', sequential(w), { prediction: true, offers: true });
    const b = await w.peer('b', sequential(w), { prediction: true, offers: true });
    await measured(w, a, b);
    const [pa, pb] = await punch(w, a, b);
    expect(pa.kind).toBe('direct');
    expect(pb.kind).toBe('direct');
    expect(results(a)).toEqual([
      expect.objectContaining({ path: 'direct', how: 'predicted port' }),
    ]);
    pa.close();
    pb.close();
  });

  it('sequential × sequential after the counter moved: relay first, then direct by the refreshed prediction', async () => {
    const w = (world = await PunchWorld.create());
    const natA = sequential(w);
    const a = await w.peer('a', natA, { prediction: true, offers: true });
    const b = await w.peer('b', sequential(w), { prediction: true, offers: true });
    await measured(w, a, b);
    // Another host behind A's NAT makes 8 mappings: A's predicted ports are all taken past.
    const other = w.net.addHost({ addresses: ['192.168.0.99'], behind: natA });
    for (let i = 0; i < 8; i++) {
      const s = await other.bindUdp();
      s.send(new Uint8Array([0]), STUN);
      await w.clock.advanceAsync(1);
      await s.close();
    }
    const [p1a, p1b] = await punch(w, a, b);
    expect(p1a.kind).toBe('relay');
    expect(p1b.kind).toBe('relay');
    expect(results(a)[0]).toMatchObject({ technique: 'prediction', path: 'relay' });
    // After the punch: one fresh binding shows where A's counter is; the offer follows it.
    for (let t = 0; t < 5_000 && !a.logs.some((l) => l.msg === 'port allocation refreshed'); t += 5)
      await w.clock.advanceAsync(5);
    expect(a.logs.some((l) => l.msg === 'port allocation refreshed')).toBe(true);
    await w.clock.advanceAsync(500);
    p1a.close();
    p1b.close();
    await w.clock.advanceAsync(100);
    const [p2a, p2b] = await punch(w, a, b);
    expect(p2a.kind).toBe('direct');
    expect(p2b.kind).toBe('direct');
    expect(results(a)[1]).toMatchObject({ path: 'direct', how: 'predicted port' });
    p2a.close();
    p2b.close();
  });

  it('control: preserving × preserving without the prediction layers ends on the relay', async () => {
    const w = (world = await PunchWorld.create());
    const a = await w.peer('a', preserving(w));
    const b = await w.peer('b', preserving(w));
    const [pa, pb] = await punch(w, a, b);
    expect(pa.kind).toBe('relay');
    expect(pb.kind).toBe('relay');
    pa.close();
    pb.close();
  });
});
