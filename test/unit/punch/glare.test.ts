/**
 * Either side may start a punch, and glare (both start at once) ends in one session: the punch
 * of the lower peer id goes on, the higher side answers it and its own `connect` follows that
 * path (connector.ts, `localPeerId`). A `connect` while a punch with the same peer runs joins it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { PunchedPath, PunchSignalOut } from '../../../src/punch/index.js';
import { PunchWorld, SIGNAL_MS } from './world.js';

let world: PunchWorld | undefined;

afterEach(async () => {
  await world?.close();
  world = undefined;
});

async function pair(w: PunchWorld) {
  const a = await w.peer('peer-a', w.nat('port-restricted'));
  const b = await w.peer('peer-b', w.nat('port-restricted'));
  for (let t = 0; t < 1_000; t += 5) await w.clock.advanceAsync(5); // warm candidates
  const sent: { from: string; f: Exclude<PunchSignalOut, { type: 'offer' }> }[] = [];
  w.loseSignal = (f) => {
    if (f.type === 'offer') return false;
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
    // (the relayed candidate is trickled later, without credentials: not an offer)
    const offers = sent.filter((s) => s.f.type === 'candidates' && s.f.ufrag !== undefined);
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
    const offers = sent.filter((s) => s.f.type === 'candidates' && s.f.ufrag !== undefined);
    expect(offers.map((s) => s.from)).toEqual(['peer-b', 'peer-a']);
    pa.close();
    pb.close();
  });
});

describe('punch offers: serve answers at once with the recipient’s registered offer', () => {
  async function offerPair(w: PunchWorld) {
    const a = await w.peer('peer-a', w.nat('port-restricted'), { offers: true });
    const b = await w.peer('peer-b', w.nat('port-restricted'), { offers: true });
    for (let t = 0; t < 1_000; t += 5) await w.clock.advanceAsync(5); // warm, offers registered
    const sent: { at: number; from: string; f: PunchSignalOut }[] = [];
    w.loseSignal = (f) => {
      const from = f.type === 'offer' ? '?' : f.to === b.id ? a.id : b.id;
      sent.push({ at: w.clock.now(), from, f });
      return false;
    };
    return { a, b, sent };
  }

  it('the initiator gets the answer one signaling trip after it asked; the recipient sends nothing but a fresh offer', async () => {
    const w = (world = await PunchWorld.create({ punchLeadMs: 20 }));
    const { a, b, sent } = await offerPair(w);
    expect(w.offers.has(b.id)).toBe(true);
    const used = w.offers.get(b.id)!.ufrag;
    const t0 = w.clock.now();
    const incoming = new Promise<PunchedPath>((resolve, reject) => {
      b.connector.onIncoming((p) => void p.path.then(resolve, reject));
    });
    let selectedAt = 0;
    const outgoing = a.connector.connect(b.id).then((p) => ((selectedAt = w.clock.now()), p));
    const [pa, pb] = await w.run(Promise.all([outgoing, incoming]));
    expect([pa.kind, pb.kind]).toEqual(['direct', 'direct']);
    // Only A's candidates crossed serve for this punch; B answered nothing, asked for nothing
    // (both trickle their relayed candidates, allocated when the punch began: not counted).
    const rendezvous = sent.filter(
      (s) => s.f.type !== 'offer' && !(s.f.type === 'candidates' && s.f.ufrag === undefined),
    );
    expect(rendezvous.map((s) => `${s.from}:${s.f.type}`)).toEqual(['peer-a:candidates']);
    expect(rendezvous[0]!.at).toBe(t0);
    // B registered a fresh offer (the used one is gone for good).
    const reoffers = sent.filter((s) => s.f.type === 'offer');
    expect(reoffers.length).toBeGreaterThanOrEqual(1);
    expect(w.offers.get(b.id)?.ufrag).not.toBe(used);
    // serve: at = receipt (t0 + S) + max RTT / 2 (S) + lead; A selects within one check round
    // trip of it (plus the pacing of the host pair's check ahead of the srflx one).
    const startAt = t0 + 2 * SIGNAL_MS + 20;
    const rtt = pa.rttMs!;
    expect(selectedAt - startAt).toBeLessThanOrEqual(rtt + 10);
    pa.close();
    pb.close();
  });

  it('an offer answers one punch: a second punch with the same peer gets the fresh one', async () => {
    const w = (world = await PunchWorld.create({ punchLeadMs: 20 }));
    const { a, b } = await offerPair(w);
    for (let i = 0; i < 2; i++) {
      const incoming = new Promise<PunchedPath>((resolve, reject) => {
        b.connector.onIncoming((p) => void p.path.then(resolve, reject));
      });
      const [pa, pb] = await w.run(Promise.all([a.connector.connect(b.id), incoming]));
      expect([pa.kind, pb.kind]).toEqual(['direct', 'direct']);
      pa.close();
      pb.close();
      for (let t = 0; t < 200; t += 5) await w.clock.advanceAsync(5);
    }
  });

  it('glare with offers: both asked, serve answered both, one session survives on both sides', async () => {
    const w = (world = await PunchWorld.create({ punchLeadMs: 20 }));
    const { a, b } = await offerPair(w);
    const [pa, pb] = await w.run(
      Promise.all([a.connector.connect(b.id), b.connector.connect(a.id)]),
    );
    expect([pa.kind, pb.kind]).toEqual(['direct', 'direct']);
    const got: string[] = [];
    pb.onData((d) => got.push(Buffer.from(d).toString('latin1')));
    pa.send(Buffer.from('\xc0one', 'latin1'));
    const back: string[] = [];
    pa.onData((d) => back.push(Buffer.from(d).toString('latin1')));
    pb.send(Buffer.from('\xc0two', 'latin1'));
    // consent keeps both alive well past one consent interval: the same session on both sides.
    for (let t = 0; t < 40_000; t += 50) await w.clock.advanceAsync(50);
    expect(pa.closed || pb.closed).toBe(false);
    expect(got).toEqual(['\xc0one']);
    expect(back).toEqual(['\xc0two']);
    pa.close();
    pb.close();
  });
});
