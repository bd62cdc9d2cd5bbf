/**
 * What keeps a punch short (bench/punch-latency.ts measures it in netsim): candidates gathered
 * when the connector is made, so `connect` and the answer send them at once; the answering side
 * asks serve for the coordinated start right behind its candidates; aggressive nomination, so the
 * controlling side selects on the first answered check instead of a nomination round trip later.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { PunchedPath, PunchSignalOut } from '../../../src/punch/index.js';
import { PunchWorld, SIGNAL_MS } from './world.js';

let world: PunchWorld | undefined;

afterEach(async () => {
  await world?.close();
  world = undefined;
});

describe('punch latency', () => {
  it('sends warm candidates at once on both sides, the answer asks for the start, and the controlling side selects within one check round trip', async () => {
    world = await PunchWorld.create();
    const w = world;
    const sent: { at: number; from: string; f: Exclude<PunchSignalOut, { type: 'offer' }> }[] = [];
    const a = await w.peer('peer-a', w.nat('port-restricted'));
    const b = await w.peer('peer-b', w.nat('port-restricted'));
    // Both connectors gather on their own (STUN Binding ‖ TURN Allocate) before any punch.
    for (let t = 0; t < 1_000; t += 5) await w.clock.advanceAsync(5);
    w.loseSignal = (f) => {
      if (f.type === 'offer') return false;
      sent.push({ at: w.clock.now(), from: f.to === b.id ? a.id : b.id, f });
      return false;
    };

    const t0 = w.clock.now();
    let selectedAt = 0;
    const incoming = new Promise<PunchedPath>((resolve, reject) => {
      b.connector.onIncoming((p) => void p.path.then(resolve, reject));
    });
    const outgoing = a.connector.connect(b.id).then((p) => {
      selectedAt = w.clock.now();
      return p;
    });
    const [pa, pb] = await w.run(Promise.all([outgoing, incoming]));
    expect([pa.kind, pb.kind]).toEqual(['direct', 'direct']);

    const candA = sent.find((s) => s.from === a.id && s.f.type === 'candidates')!;
    const candB = sent.find((s) => s.from === b.id && s.f.type === 'candidates')!;
    const punchB = sent.find((s) => s.from === b.id && s.f.type === 'punch');
    // No STUN or TURN round trip before either side's candidates leave.
    expect(candA.at).toBe(t0);
    expect(candB.at).toBe(t0 + 2 * SIGNAL_MS); // A → serve → B, answered on arrival
    const offered = candA.f.type === 'candidates' ? candA.f.candidates : [];
    // The relayed candidate is allocated when a punch begins and trickled (trickle.test.ts).
    expect(offered.map((c) => c.type)).toEqual(['host', 'srflx']);
    // The answer's `punch` leaves with it: serve schedules the start as it forwards the answer.
    expect(punchB?.at).toBe(candB.at);

    // serve: at = (its receipt of B's punch) + max RTT / 2 (= SIGNAL_MS) + the world's 250 ms lead.
    const startAt = punchB!.at + SIGNAL_MS + SIGNAL_MS + 250;
    const rtt = pa.rttMs!;
    expect(rtt).toBeGreaterThan(0);
    // Regular nomination needs a check round trip, then a nomination round trip (≥ 2 RTT).
    expect(selectedAt - startAt).toBeLessThan(2 * rtt);
    pa.close();
    pb.close();
  });
});
