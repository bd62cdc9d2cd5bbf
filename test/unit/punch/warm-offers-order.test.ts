/**
 * WarmOffers (warm-offers.ts) with two gathers running at once: serve keeps only the newest
 * offer it is sent, so an older gather that finishes last must not register its candidates
 * (possibly naming a relay that died since) after the newer one's. A gatherer whose gathers end
 * when the test says, ManualClock, a signaling that records the offers sent.
 */
import { describe, expect, it } from 'vitest';
import type { Candidate, CandidateGatherer } from '../../../src/punch/candidates.js';
import type { PunchSignaling } from '../../../src/punch/punch-signals.js';
import { PUNCH_DEFAULTS } from '../../../src/punch/constants.js';
import { WarmOffers } from '../../../src/punch/warm-offers.js';
import { ManualClock } from '../../../src/util/clock.js';

const host: Candidate = { type: 'host', address: '10.0.0.2', port: 4000, priority: 1 };
const relay = (port: number): Candidate => ({
  type: 'relay',
  address: '203.0.113.9',
  port,
  priority: 0,
});

function setup() {
  const ends: ((cs: Candidate[]) => void)[] = [];
  const hosts = [host];
  const gatherer = {
    hostCandidates: () => hosts,
    gather: () => new Promise<Candidate[]>((resolve) => ends.push(resolve)),
  } as unknown as CandidateGatherer;
  const offers: { candidates: { port: number }[]; ufrag: string }[] = [];
  const signaling = {
    sendSignal: (f: { type: string; candidates: { port: number }[]; ufrag: string }) => {
      if (f.type === 'offer') offers.push(f);
      return true;
    },
    onSignal: () => () => {},
    clockOffsetMs: 0,
  } as unknown as PunchSignaling;
  const clock = new ManualClock();
  const warm = new WarmOffers({
    gatherer,
    clock,
    signaling,
    registerOffers: true,
    facts: () => ({}),
    onGathered: () => {},
    closed: () => false,
  });
  const relayPorts = () => offers.map((o) => o.candidates.find((c) => c.port !== 4000)?.port);
  const ufrags = () => offers.map((o) => o.ufrag);
  return { warm, ends, offers, relayPorts, ufrags, clock, hosts };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('WarmOffers with gathers at once', () => {
  it('an older gather that finishes last does not replace the newer offer', async () => {
    const { warm, ends, relayPorts } = setup();
    warm.prewarm(); // gather 1: its relay will be the old one
    warm.prewarm(); // gather 2 (a change: a new relay)
    expect(ends).toHaveLength(2);
    ends[1]!([host, relay(6002)]);
    await tick();
    ends[0]!([host, relay(6001)]);
    await tick();
    // The last offer sent (the one serve keeps) is the newer gather's.
    expect(relayPorts().at(-1)).toBe(6002);
    expect(relayPorts()).not.toContain(6001);
  });

  it('in order, both register (newest last); a re-register after reconnect sends the newest', async () => {
    const { warm, ends, relayPorts } = setup();
    warm.prewarm();
    warm.prewarm();
    ends[0]!([host, relay(6001)]);
    await tick();
    ends[1]!([host, relay(6002)]);
    await tick();
    expect(relayPorts()).toEqual([6001, 6002]);
    warm.registerOffer(); // reconnect: the warm (newest) candidates again
    await tick();
    expect(relayPorts().at(-1)).toBe(6002);
    warm.close();
  });

  it('a re-register whose warm candidates are older than the last offer gathers afresh', async () => {
    const { warm, ends, relayPorts, hosts } = setup();
    warm.prewarm(); // gather 1: the warm candidates
    ends[0]!([host, relay(6001)]);
    await tick();
    // A connect's own gather (an interface came and went meanwhile): newer, offered, not warm.
    const other: Candidate = { ...host, address: '10.0.0.3' };
    hosts.push(other);
    const own = warm.gather(new AbortController().signal);
    await tick();
    expect(ends).toHaveLength(2);
    ends[1]!([host, other, relay(6002)]);
    await own;
    hosts.pop();
    expect(relayPorts()).toEqual([6001, 6002]);
    warm.registerOffer(); // reconnect: the warm result is gather 1's, older than the offer
    await tick();
    expect(relayPorts()).toEqual([6001, 6002]); // not the stale 6001 again
    expect(ends).toHaveLength(3); // a fresh gather instead, which registers itself
    ends[2]!([host, relay(6003)]);
    await tick();
    expect(relayPorts().at(-1)).toBe(6003);
    warm.close();
  });
});

describe('WarmOffers registerOffer sends exactly one offer', () => {
  it('when it has to gather fresh (no warm candidates), and again after a reconnect', async () => {
    const { warm, ends, relayPorts, ufrags, clock } = setup();
    warm.registerOffer(); // nothing warm: a gather of its own
    await tick();
    expect(ends).toHaveLength(1);
    ends[0]!([host, relay(6001)]);
    await tick();
    expect(relayPorts()).toEqual([6001]); // once, not once by the gather and once by registerOffer

    // A reconnect later, the warm candidates past their life: a fresh gather again, one offer.
    clock.advance(PUNCH_DEFAULTS.warmCandidatesMs + 1);
    warm.registerOffer();
    await tick();
    expect(ends).toHaveLength(2);
    ends[1]!([host, relay(6002)]);
    await tick();
    expect(relayPorts()).toEqual([6001, 6002]);
    expect(new Set(ufrags()).size).toBe(2); // each offer its own one-time credentials
    warm.close();
  });

  it('a reconnect while a gather runs: one offer, the current one', async () => {
    const { warm, ends, relayPorts } = setup();
    warm.prewarm(); // the relay changed: gathering
    warm.registerOffer(); // reconnect meanwhile: the running gather's candidates are the current ones
    await tick();
    expect(ends).toHaveLength(1);
    ends[0]!([host, relay(6001)]);
    await tick();
    expect(relayPorts()).toEqual([6001]);
    warm.close();
  });

  it('a reconnect with fresh warm candidates already offered: exactly one more offer', async () => {
    const { warm, ends, relayPorts, ufrags } = setup();
    warm.prewarm();
    ends[0]!([host, relay(6001)]);
    await tick();
    expect(relayPorts()).toEqual([6001]);
    warm.registerOffer(); // serve forgot the offer with the old connection: send it again
    await tick();
    await tick();
    expect(ends).toHaveLength(1); // the warm candidates, no gather
    expect(relayPorts()).toEqual([6001, 6001]);
    expect(new Set(ufrags()).size).toBe(2);
    warm.close();
  });
});
