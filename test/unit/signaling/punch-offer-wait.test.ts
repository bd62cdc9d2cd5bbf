/**
 * serve holding a punch for a just-welcomed callee's first offer (punch-offers.ts OfferWait):
 * held until the offer arrives (then answered and started as with a registered offer), or until
 * the window after the welcome closes (then forwarded unanswered, as before); its trickles wait
 * behind it in order; bounded in time and in number; never for a caller the callee refuses;
 * only for a callee that offered on an earlier connection (a cold one would only wait).
 */
import { describe, expect, it } from 'vitest';
import {
  OFFER_WAIT,
  OfferHistory,
  offerHistory,
  OfferWait,
  type PunchOffer,
} from '../../../src/signaling/punch-offers.js';
import { A, B, OFFER, punchWorld, type Chan, type CandidatesExtra } from './punch-world.js';

/** B (serve's round trip to it: 60 ms) was welcomed at 1,000 and has no offer yet. */
function setup(offeredBefore = true) {
  let offer: PunchOffer | undefined;
  const waits = new Map<string, OfferWait>();
  const world = punchWorld(
    () => {
      const o = offer;
      offer = undefined;
      return o;
    },
    (peer) => waits.get(peer),
  );
  const wait = new OfferWait(world.clock);
  waits.set(B, wait);
  wait.welcomed(world.b.rttMs, offeredBefore); // B offered on an earlier connection
  const windowMs = OFFER_WAIT.rtts * 60 + OFFER_WAIT.marginMs;
  /** What ws-connection.ts does with B's `offer` frame. */
  const offered = (o: PunchOffer) => {
    if (!wait.offered(o)) offer = o;
  };
  const send = (from: Chan, extra: CandidatesExtra = {}) => world.punch(from, extra);
  const trickle = (from: Chan, rid = 'r1') =>
    send(from, {
      rid,
      ufrag: undefined,
      pwd: undefined,
      candidates: [{ type: 'relay', protocol: 'udp', address: '203.0.113.5', port: 6000 }],
    });
  return { ...world, wait, windowMs, offered, send, trickle };
}

describe('serve holds a punch for a just-welcomed callee', () => {
  it('answers it with the offer that arrives, its trickle right behind', () => {
    const { clock, a, b, wait, offered, send, trickle } = setup();
    send(a);
    trickle(a);
    expect(a.take()).toEqual([]);
    expect(b.take()).toEqual([]); // held: not forwarded unanswered
    expect(wait.size).toBe(1);
    clock.advance(100);
    offered(OFFER);
    const toB = b.take();
    expect(toB.map((m) => m.type)).toEqual(['candidates', 'punch-start', 'candidates']);
    expect(toB[0]).toMatchObject({ from: A, rid: 'r1', ufrag: 'aaaa', answered: 'bbbb' });
    expect(toB[2]).toMatchObject({ from: A, rid: 'r1', candidates: [{ type: 'relay' }] });
    expect(toB[2]).not.toHaveProperty('ufrag');
    const toA = a.take();
    expect(toA.map((m) => m.type)).toEqual(['candidates', 'punch-start']);
    expect(toA[0]).toMatchObject({ from: B, rid: 'r1', ...OFFER, answered: 'bbbb' });
    expect(wait.size).toBe(0);
    expect(clock.pending).toBe(0); // the window's timer is gone
  });

  it('forwards it unanswered when no offer comes within the window', () => {
    const { clock, a, b, wait, windowMs, offered, send, trickle } = setup();
    send(a);
    trickle(a);
    clock.advance(windowMs - 1);
    expect(b.take()).toEqual([]);
    clock.advance(1);
    const toB = b.take();
    expect(toB.map((m) => m.type)).toEqual(['candidates', 'candidates']);
    expect(toB[0]).not.toHaveProperty('answered');
    expect(toB[1]).not.toHaveProperty('ufrag');
    expect(a.take()).toEqual([]); // B answers itself
    expect(wait.size).toBe(0);
    // A later offer is kept for the next punch, as any offer is.
    offered(OFFER);
    send(a, { rid: 'r2' });
    expect(a.take()[0]).toMatchObject({ rid: 'r2', answered: 'bbbb' });
  });

  it('does not hold past the window, and holds at most OFFER_WAIT.maxHeld', () => {
    const late = setup();
    late.clock.advance(late.windowMs);
    late.send(late.a);
    expect(late.b.take().map((m) => m.type)).toEqual(['candidates']);
    expect(late.wait.size).toBe(0);

    const full = setup();
    for (let i = 0; i < OFFER_WAIT.maxHeld; i++) full.send(full.a, { rid: `r${i}` });
    expect(full.b.take()).toEqual([]);
    full.send(full.a, { rid: 'over' });
    const toB = full.b.take();
    expect(toB).toHaveLength(1);
    expect(toB[0]).toMatchObject({ rid: 'over' });
    expect(toB[0]).not.toHaveProperty('answered');
    // The oldest held takes the offer; the rest keep waiting for the next one.
    full.offered(OFFER);
    expect(full.a.take()[0]).toMatchObject({ rid: 'r0', answered: 'bbbb' });
    expect(full.wait.size).toBe(OFFER_WAIT.maxHeld - 1);
  });

  it('never holds (nor answers) a punch from a peer the callee does not allow', () => {
    const { x, b, wait, offered, send } = setup();
    send(x);
    expect(wait.size).toBe(0);
    offered(OFFER);
    expect(x.take()).toEqual([]);
    expect(b.take()).toEqual([]);
  });

  it('a trickle of a punch that is not held is forwarded at once', () => {
    const { a, b, trickle } = setup();
    trickle(a, 'other');
    expect(b.take().map((m) => m.type)).toEqual(['candidates']);
  });

  it("drops held punches and their timers when the callee's connection closes", () => {
    const { clock, a, b, wait, windowMs, send } = setup();
    send(a);
    wait.close();
    clock.advance(windowMs);
    expect(b.take()).toEqual([]);
    expect(a.take()).toEqual([]);
    expect(clock.pending).toBe(0);
    expect(wait.hold(A, 'r9', () => {})).toBe(false);
  });

  it('holds nothing for a callee that never offered here (no warm punch layer)', () => {
    const { a, b, wait, send } = setup(false);
    send(a);
    expect(wait.size).toBe(0);
    const toB = b.take();
    expect(toB.map((m) => m.type)).toEqual(['candidates']);
    expect(toB[0]).not.toHaveProperty('answered');
  });
});

describe('OfferHistory', () => {
  it('remembers offering peers, per server, forgetting the least recent past its bound', () => {
    const h = new OfferHistory(2);
    h.note('p1');
    h.note('p2');
    h.note('p1'); // p1 offered again: p2 is now the least recent
    h.note('p3');
    expect(['p1', 'p2', 'p3'].map((p) => h.has(p))).toEqual([true, false, true]);
    const s1 = {};
    const s2 = {};
    offerHistory(s1).note('p');
    expect(offerHistory(s1).has('p')).toBe(true);
    expect(offerHistory(s2).has('p')).toBe(false);
  });
});
