import { describe, expect, it } from 'vitest';
import { Rendezvous } from '../../../src/signaling/rendezvous.js';
import { ManualClock } from '../../../src/util/clock.js';

const relayed = { address: '192.0.2.1', port: 50_000 };

describe('Rendezvous (serve’s relay peer gate)', () => {
  it('grants only toward addresses seen for a peer in rendezvous with the requester', () => {
    const clock = new ManualClock();
    const r = new Rendezvous({ clock, ttlMs: 60_000 });
    const where: Record<string, string> = { alice: '198.51.100.7', bob: '::ffff:203.0.113.9' };
    r.addressOf = (p) => where[p];
    expect(r.allows('alice', '203.0.113.9')).toBe(false);
    r.noteForward('alice', 'bob');
    expect(r.allows('alice', '203.0.113.9')).toBe(true); // bob's connection, IPv4-mapped
    expect(r.allows('bob', '198.51.100.7')).toBe(true); // symmetric
    expect(r.allows('alice', '198.51.100.7')).toBe(false); // her own address is not bob's
    expect(r.allows('alice', '8.8.8.8')).toBe(false);
    expect(r.allows('mallory', '203.0.113.9')).toBe(false);
    r.noteAllocation('bob', { address: '203.0.113.10', port: 4000 }, relayed);
    expect(r.allows('alice', '203.0.113.10')).toBe(true);
    expect(r.allows('alice', relayed.address)).toBe(true);
  });

  it('forgets a pair unused for its TTL; use re-arms it', () => {
    const clock = new ManualClock();
    const r = new Rendezvous({ clock, ttlMs: 60_000 });
    r.addressOf = (p) => (p === 'bob' ? '203.0.113.9' : '198.51.100.7');
    r.noteForward('alice', 'bob');
    clock.advance(50_000);
    expect(r.allows('alice', '203.0.113.9')).toBe(true); // re-armed for 60 s from now
    clock.advance(50_000);
    expect(r.allows('alice', '203.0.113.9')).toBe(true);
    clock.advance(60_001);
    expect(r.allows('alice', '203.0.113.9')).toBe(false);
  });

  it('is bounded: peers, partners and addresses', () => {
    const clock = new ManualClock();
    const r = new Rendezvous({
      clock,
      maxPeers: 10,
      maxPartnersPerPeer: 2,
      maxAddressesPerPeer: 2,
    });
    for (let i = 0; i < 100; i++) r.noteForward('alice', `p${i}`);
    expect(r.size).toBeLessThanOrEqual(10);
    r.noteAddress('p99', '203.0.113.1');
    r.noteAddress('p99', '203.0.113.2');
    r.noteAddress('p99', '203.0.113.3');
    expect(r.allows('alice', '203.0.113.1')).toBe(false); // oldest address forgotten
    expect(r.allows('alice', '203.0.113.3')).toBe(true);
    expect(() => new Rendezvous({ clock, maxPeers: 0 })).toThrow(RangeError);
  });
});
