/**
 * serve's punch offers (punch-offers.ts): a punch toward a peer with a registered offer is
 * answered at once with it and started; the offer goes only to a peer the owner allows, only
 * with a punch that carries credentials (never with a trickle), and only once.
 */
import { describe, expect, it } from 'vitest';
import type { PunchOffer } from '../../../src/signaling/punch-offers.js';
import { A, B, OFFER, punchWorld } from './punch-world.js';

function setup() {
  const offers = new Map<string, PunchOffer>([[B, OFFER]]);
  const world = punchWorld((peer) => {
    const o = offers.get(peer);
    offers.delete(peer);
    return o;
  });
  return { ...world, offers };
}

describe('punch offers', () => {
  it('answers the initiator at once with the offer, marks the forward and starts both', () => {
    const { a, b, offers, punch } = setup();
    punch(a);
    const toB = b.take();
    expect(toB.map((m) => m.type)).toEqual(['candidates', 'punch-start']);
    expect(toB[0]).toMatchObject({ from: A, rid: 'r1', ufrag: 'aaaa', answered: 'bbbb' });
    const toA = a.take();
    expect(toA.map((m) => m.type)).toEqual(['candidates', 'punch-start']);
    expect(toA[0]).toMatchObject({ from: B, rid: 'r1', ...OFFER, answered: 'bbbb' });
    // at = now + max RTT / 2 + lead, the same instant for both
    expect(toA[1]).toEqual({
      type: 'punch-start',
      from: B,
      rid: 'r1',
      at: 1_000 + 30 + 20,
      rtt: 60,
    });
    expect(toB[1]).toMatchObject({ at: 1_050, from: A });
    expect(offers.has(B)).toBe(false); // used once
  });

  it('a second punch without a fresh offer is forwarded for B to answer itself', () => {
    const { a, b, punch } = setup();
    punch(a);
    a.take();
    b.take();
    punch(a, { rid: 'r2' });
    expect(a.take()).toEqual([]);
    const toB = b.take();
    expect(toB).toHaveLength(1);
    expect(toB[0]).not.toHaveProperty('answered');
  });

  it('never hands the offer to a peer the owner does not allow', () => {
    const { x, b, offers, punch } = setup();
    punch(x);
    expect(x.take()).toEqual([]);
    expect(b.take()).toEqual([]); // refused like any rendezvous frame
    expect(offers.has(B)).toBe(true);
  });

  it('a trickle (no credentials) is forwarded and does not use the offer', () => {
    const { a, b, offers, punch } = setup();
    punch(a, { ufrag: undefined, pwd: undefined });
    expect(a.take()).toEqual([]);
    expect(b.take().map((m) => m.type)).toEqual(['candidates']);
    expect(offers.has(B)).toBe(true);
  });
});
