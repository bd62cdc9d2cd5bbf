/**
 * Either side may start a punch, and glare (both start at once) ends in one session: the punch
 * of the lower peer id goes on, the higher side answers it and its own `connect` follows that
 * path (connector.ts, `localPeerId`). A `connect` while a punch with the same peer runs joins it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { PunchSignalOut } from '../../../src/punch/index.js';
import { PunchWorld } from './world.js';

let world: PunchWorld | undefined;

afterEach(async () => {
  await world?.close();
  world = undefined;
});

async function pair(w: PunchWorld) {
  const a = await w.peer('peer-a', w.nat('port-restricted'));
  const b = await w.peer('peer-b', w.nat('port-restricted'));
  for (let t = 0; t < 1_000; t += 5) await w.clock.advanceAsync(5); // warm candidates
  const sent: { from: string; f: PunchSignalOut }[] = [];
  w.loseSignal = (f) => {
    sent.push({ from: f.to === b.id ? a.id : b.id, f });
    return false;
  };
  const incoming = { a: 0, b: 0 };
  a.connector.onIncoming(() => incoming.a++);
  b.connector.onIncoming(() => incoming.b++);
  return { a, b, sent, incoming };
}

describe('punch: either side starts, glare ends in one session', () => {
  it('both connect at once: one session (the lower id’s), both get the same direct path', async () => {
    const w = (world = await PunchWorld.create());
    const { a, b, sent, incoming } = await pair(w);
    const [pa, pb] = await w.run(
      Promise.all([a.connector.connect(b.id), b.connector.connect(a.id)]),
    );
    expect([pa.kind, pb.kind]).toEqual(['direct', 'direct']);
    // Two offers went out, one answer came back: peer-b (higher) answered peer-a's punch.
    const offers = sent.filter((s) => s.f.type === 'candidates');
    expect(offers.map((s) => s.from)).toEqual(['peer-a', 'peer-b', 'peer-b']);
    const ridA = offers[0]!.f.rid;
    expect(offers[2]!.f.rid).toBe(ridA);
    expect(incoming).toEqual({ a: 0, b: 1 });
    // peer-a's path sends to peer-b's path's local end, and back.
    const got: string[] = [];
    pb.onData((d) => got.push(Buffer.from(d).toString()));
    pa.send(Buffer.from('\xc0hello', 'latin1'));
    await w.run(new Promise<void>((r) => w.clock.setTimeout(r, 100)));
    expect(got).toHaveLength(1);
    pa.close();
    pb.close();
  });

  it('the higher id may start; a connect on the other side joins the incoming punch', async () => {
    const w = (world = await PunchWorld.create());
    const { a, b, sent, incoming } = await pair(w);
    const outgoing = b.connector.connect(a.id);
    // peer-a asks too, after peer-b's offer reached it: it joins, it does not punch again.
    await w.run(new Promise<void>((r) => w.clock.setTimeout(r, 60)));
    expect(incoming.a).toBe(1);
    const joined = a.connector.connect(b.id);
    const [pb, pa] = await w.run(Promise.all([outgoing, joined]));
    expect([pa.kind, pb.kind]).toEqual(['direct', 'direct']);
    expect(sent.filter((s) => s.f.type === 'candidates').map((s) => s.from)).toEqual([
      'peer-b',
      'peer-a',
    ]);
    pa.close();
    pb.close();
  });
});
