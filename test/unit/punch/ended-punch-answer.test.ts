/**
 * serve answers a punch at once with the callee's registered offer (signaling punch-offers.ts):
 * the initiator gets `candidates { from: callee, ufrag: offer's, answered: offer's }`. When the
 * initiator's punch ended while that answer was on its way (aborted, glare, its relay lost —
 * relay-move), the frame names a rid it no longer has. It used to be taken for a punch TOWARD us
 * answered with one of our offers: "punch answered with an unknown offer" in relay-move's peer
 * logs, and a fresh offer of ours registered for nothing. It is now recognised (the answered
 * ufrag is the frame's own) and dropped.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { PUNCH_ERR, PunchError } from '../../../src/punch/index.js';
import { punch, PunchWorld, SIGNAL_MS } from './world.js';

let world: PunchWorld | undefined;

afterEach(async () => {
  await world?.close();
  world = undefined;
});

describe("the answer to a punch that ended on the initiator's side", () => {
  it('is dropped: no punch toward us, no offer of ours registered for it', async () => {
    world = await PunchWorld.create();
    const w = world;
    const a = await w.peer('peer-a', w.nat('full-cone'), { offers: true });
    const b = await w.peer('peer-b', w.nat('full-cone'), { offers: true });
    // A first punch: both relays allocated (an allocation made later would register an offer).
    for (const p of await punch(w, a, b)) p.close();
    await w.clock.advanceAsync(1_000);
    const offerB = w.offers.get('peer-b')?.ufrag;
    expect(offerB).toBeDefined();
    const incomingAtA: string[] = [];
    a.connector.onIncoming((p) => incomingAtA.push(p.peer));

    // A's punch ends right after its candidates left: serve's answer comes for a rid A dropped.
    const ac = new AbortController();
    let sentCandidates = false;
    /** Offers A registered after its punch ended (its own candidates name its NAT). */
    let offersOfA = 0;
    w.loseSignal = (f) => {
      if (f.type === 'candidates' && f.to === 'peer-b' && !sentCandidates) {
        sentCandidates = true;
        w.clock.setTimeout(() => ac.abort(), 1);
      }
      const ofA = f.type === 'offer' && f.candidates.some((c) => c.address === a.nat.publicAddress);
      if (ofA && ac.signal.aborted) offersOfA++;
      return false;
    };
    const path = a.connector.connect('peer-b', { signal: ac.signal });
    const outcome = await w.run(
      path.then(
        () => undefined,
        (e: unknown) => e,
      ),
    );
    expect(outcome).toBeInstanceOf(PunchError);
    expect((outcome as PunchError).code).toBe(PUNCH_ERR.ABORTED);
    await w.clock.advanceAsync(4 * SIGNAL_MS);
    // serve handed B's offer out (B registered a new one since) and the answer reached A.
    expect(w.offers.get('peer-b')?.ufrag).not.toBe(offerB);

    expect(incomingAtA).toEqual([]);
    // A registered nothing new: the answer named B's offer, not one of A's.
    expect(offersOfA).toBe(0);
  });
});
