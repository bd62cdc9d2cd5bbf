/**
 * `relay-seen:{ip}` is bounded (src/cluster/cluster-scripts.ts ARM_SEEN_LUA, constants.ts
 * RELAY_SEEN), on a real redis-server of its own. Every serve node writes one field per peer
 * whose signaling connection comes from the IP (rendezvous-pairs.ts `seen`), and every fleet
 * relay one per allocation at the client's and the relayed IP (relay-peer-gate.ts
 * noteAllocation); each write re-arms the key's TTL. Before the cap, one IP bringing new key
 * pairs (free with open registration) grew the hash without end: 1,000 peers, 1,000 fields.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RELAY_SEEN } from '../../../src/cluster/constants.js';
import { ClusterKeys } from '../../../src/cluster/keys.js';
import { FleetPeerGate } from '../../../src/cluster/relay-peer-gate.js';
import { RendezvousPairs } from '../../../src/cluster/rendezvous-pairs.js';
import { ManualClock } from '../../../src/util/clock.js';
import { missingPrereq } from '../../support/prereq.js';
import { startRedis, type TestRedis } from './redis-server.js';
import { hookMs, teardown } from './teardown.js';

const skip = missingPrereq('integration (redis-server)', {
  commands: { 'redis-server': 'redis-server' },
});

let redis: TestRedis | undefined;
beforeAll(async () => {
  if (!skip) redis = await startRedis();
}, 60_000);
afterAll(() => teardown([['redis-server', () => redis?.stop()]]), hookMs(2));

/** A fresh key prefix per test: the tests share one redis-server. */
let n = 0;
const keysFor = () => new ClusterKeys(`seen${n++}:`);
const peer = (i: number) => `peer${String(i).padStart(6, '0')}`;

async function inBatches(count: number, f: (i: number) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < count; i += 500) {
    await Promise.all(Array.from({ length: Math.min(500, count - i) }, (_, j) => f(i + j)));
  }
}

describe.skipIf(skip)('relay-seen:{ip} is bounded', () => {
  it('serve: 1,000 new peers from one IP leave at most the cap, the latest kept, the TTL set', async () => {
    const r = redis!.client();
    const keys = keysFor();
    const clock = new ManualClock(1_000_000);
    const pairs = new RendezvousPairs({ redis: r, keys, clock, limits: { maxSeenPerIp: 100 } });
    for (let i = 0; i < 1_000; i++) {
      await pairs.writeSeen(peer(i), '198.51.100.7');
      clock.advance(1);
    }
    const key = keys.relaySeen('198.51.100.7');
    const len = await r.hlen(key);
    expect(len).toBeLessThanOrEqual(100);
    expect(len).toBeGreaterThanOrEqual(75);
    expect(await r.hexists(key, peer(999))).toBe(1);
    expect(await r.hexists(key, peer(0))).toBe(0);
    expect(await r.pttl(key)).toBeGreaterThan(0);
  });

  it('expired fields go first: live peers under the cap are all kept', async () => {
    const r = redis!.client();
    const keys = keysFor();
    const clock = new ManualClock(1_000_000);
    const o = { redis: r, keys, clock, limits: { maxSeenPerIp: 100, ttlMs: 60_000 } };
    const pairs = new RendezvousPairs(o);
    for (let i = 0; i < 80; i++) await pairs.writeSeen(peer(i), '203.0.113.9');
    clock.advance(61_000); // the 80 expire (the key itself lives: it is re-armed below)
    for (let i = 80; i < 170; i++) await pairs.writeSeen(peer(i), '203.0.113.9');
    const fields = await r.hkeys(keys.relaySeen('203.0.113.9'));
    expect(fields.filter((f) => f < peer(80))).toEqual([]);
    expect(fields.length).toBe(90);
  });

  it('the default cap holds against 12,000 peers at one IP', async () => {
    const r = redis!.client();
    const keys = keysFor();
    const pairs = new RendezvousPairs({ redis: r, keys, limits: { rewriteMs: 1 } });
    await inBatches(12_000, (i) => pairs.writeSeen(peer(i), '192.0.2.1'));
    const len = await r.hlen(keys.relaySeen('192.0.2.1'));
    expect(len).toBeLessThanOrEqual(RELAY_SEEN.maxPeersPerIp);
    expect(len).toBeGreaterThan(RELAY_SEEN.maxPeersPerIp / 2);
  });

  it('fleet relay: allocations from one IP are capped at the client and the relayed IP; the newest still gets its grant', async () => {
    const r = redis!.client();
    const keys = keysFor();
    const clock = new ManualClock(5_000_000);
    const gate = new FleetPeerGate({ redis: r, keys, clock, limits: { maxSeenPerIp: 50 } });
    const relayed = (i: number) => ({ address: '192.0.2.50', port: 40_000 + i });
    for (let i = 0; i < 300; i++) {
      await gate.noteAllocation(peer(i), { address: '198.51.100.20', port: 5000 + i }, relayed(i));
      clock.advance(1);
    }
    expect(await r.hlen(keys.relaySeen('198.51.100.20'))).toBeLessThanOrEqual(50);
    expect(await r.hlen(keys.relaySeen('192.0.2.50'))).toBeLessThanOrEqual(50);
    // alice (registered, in rendezvous with the newest peer) may reach it at that IP.
    const pairs = new RendezvousPairs({ redis: r, keys, clock });
    await r.hset(keys.peers, 'alice', 'key');
    await pairs.write('alice', peer(299));
    await gate.prepare('alice', ['198.51.100.20']);
    expect(gate.allows('alice', '198.51.100.20')).toBe(true);
    await gate.close();
  });
});
