/**
 * serve's punch offers (punch-offers.ts): a punch toward a peer with a registered offer is
 * answered at once with it and started; the offer goes only to a peer the owner allows, only
 * with a punch that carries credentials (never with a trickle), and only once.
 */
import { describe, expect, it } from 'vitest';
import { Metrics, signalingMetrics } from '../../../src/signaling/metrics.js';
import { Presence, type ControlChannel } from '../../../src/signaling/presence.js';
import type { ClientMessage, ServerMessage } from '../../../src/signaling/protocol.js';
import { forwardCandidates, type PunchOffer } from '../../../src/signaling/punch-offers.js';
import { ManualClock } from '../../../src/util/clock.js';

const A = 'a'.repeat(32);
const B = 'b'.repeat(32);
const X = 'x'.repeat(32);

class Chan implements ControlChannel {
  got: ServerMessage[] = [];
  constructor(
    readonly peer: string,
    readonly rttMs: number,
    readonly publicKey = 'pk',
  ) {}
  control(m: ServerMessage): boolean {
    this.got.push(m);
    return true;
  }
  take(): ServerMessage[] {
    return this.got.splice(0);
  }
}

const OFFER: PunchOffer = {
  candidates: [{ type: 'srflx', protocol: 'udp', address: '198.51.100.2', port: 4000 }],
  ufrag: 'bbbb',
  pwd: 'b'.repeat(22),
};

function setup() {
  const clock = new ManualClock(1_000);
  const presence = new Presence({
    metrics: signalingMetrics(new Metrics()),
    clock,
    punchLeadMs: 20,
  });
  const a = new Chan(A, 40);
  const b = new Chan(B, 60);
  const x = new Chan(X, 10);
  for (const c of [a, b, x]) presence.addChannel(c);
  presence.allow(b, [A], false); // B lets A (only) rendezvous with it
  presence.allow(a, [], true);
  const offers = new Map<string, PunchOffer>([[B, OFFER]]);
  const take = (peer: string) => {
    const o = offers.get(peer);
    offers.delete(peer);
    return o;
  };
  const punch = (from: Chan, extra: Partial<Extract<ClientMessage, { type: 'candidates' }>> = {}) =>
    forwardCandidates(
      presence,
      from,
      {
        type: 'candidates',
        to: B,
        rid: 'r1',
        candidates: [{ type: 'host', protocol: 'udp', address: '10.0.0.1', port: 5000 }],
        ufrag: 'aaaa',
        pwd: 'a'.repeat(22),
        ...extra,
      },
      take,
    );
  return { clock, a, b, x, offers, punch };
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
