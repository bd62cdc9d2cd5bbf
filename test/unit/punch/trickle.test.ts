/**
 * The relayed candidate never delays the direct ones: right after a connector is made, a punch
 * sends host + srflx as soon as the STUN round trip is back and trickles the relayed candidate
 * (a `candidates` frame without credentials, same rid) when the TURN allocation is made; a pair
 * that needs the relay still gets it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { PunchedPath, PunchSignalOut } from '../../../src/punch/index.js';
import { PunchWorld, SIGNAL_MS, type NatKind } from './world.js';

let world: PunchWorld | undefined;

afterEach(async () => {
  await world?.close();
  world = undefined;
});

async function coldPunch(ka: NatKind, kb: NatKind) {
  // TURN credentials take a signaling round trip, as from serve: the relay comes last.
  const w = (world = await PunchWorld.create({
    punchLeadMs: 20,
    credentialsDelayMs: 2 * SIGNAL_MS,
  }));
  const sent: { at: number; f: PunchSignalOut }[] = [];
  w.loseSignal = (f) => {
    sent.push({ at: w.clock.now(), f });
    return false;
  };
  const t0 = w.clock.now();
  const a = await w.peer('peer-a', w.nat(ka));
  const b = await w.peer('peer-b', w.nat(kb));
  const incoming = new Promise<PunchedPath>((resolve, reject) => {
    b.connector.onIncoming((p) => void p.path.then(resolve, reject));
  });
  // No warm-up: the connectors were made this instant.
  const [pa, pb] = await w.run(Promise.all([a.connector.connect(b.id), incoming]));
  return { t0, sent, pa, pb };
}

describe('punch: the relayed candidate is trickled, never waited for', () => {
  it('port-restricted × port-restricted right after start: candidates after one STUN round trip, direct', async () => {
    const { t0, sent, pa, pb } = await coldPunch('port-restricted', 'port-restricted');
    expect([pa.kind, pb.kind]).toEqual(['direct', 'direct']);
    const cands = sent.flatMap((s) => (s.f.type === 'candidates' ? [{ at: s.at, f: s.f }] : []));
    const first = cands.find((s) => s.f.to === 'peer-b')!;
    const types = first.f.candidates.map((c) => c.type);
    expect(types).toEqual(['host', 'srflx']);
    // one STUN round trip through the NAT to serve and back (memory network hops), no TURN
    expect(first.at - t0).toBeLessThan(60);
    // The relayed candidate follows on the same rid, without credentials (a trickle).
    const trickled = cands.filter(
      (s) => s.f.to === 'peer-b' && s.f.ufrag === undefined && s.f.rid === first.f.rid,
    );
    expect(trickled.map((s) => s.f.candidates.map((c) => c.type))).toEqual([['relay']]);
    pa.close();
    pb.close();
  });

  it('symmetric × port-restricted right after start: the trickled relayed candidate carries it', async () => {
    const { pa, pb } = await coldPunch('symmetric', 'port-restricted');
    expect([pa.kind, pb.kind]).toEqual(['relay', 'relay']);
    pa.close();
    pb.close();
  });
});
