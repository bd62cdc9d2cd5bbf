/**
 * `watch:{peer}` keys have a TTL that the watchers' nodes renew (src/cluster/watch-leases.ts),
 * on a real redis-server of their own. Before, a node that crashed left its entries in keys
 * without a TTL: they went only when a change of the watched peer found the node gone, and a
 * peer id watched once and never changing kept its key for ever.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startClusterNode, type ClusterNode } from '../../../src/cluster/cluster-node.js';
import { ClusterPresence } from '../../../src/cluster/remote-presence.js';
import type { Presence } from '../../../src/signaling/presence.js';
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

const nodes: ClusterNode[] = [];
afterEach(async () => {
  for (const n of nodes.splice(0)) await n.close();
});

const TTL = 60_000;
const REFRESH = 20_000;
let n = 0;

/** A cluster node on a manual clock (heartbeats and renewals run only when it is advanced). */
async function node(clock: ManualClock): Promise<{ c: ClusterNode; presence: ClusterPresence }> {
  const c = await startClusterNode({
    redisUrl: redis!.url,
    prefix: `wttl${n++}:`,
    clock,
    timing: { watchTtlMs: TTL, watchRefreshMs: REFRESH },
  });
  nodes.push(c);
  // Only the bus messages reach Presence; `watch` does not.
  const presence = new ClusterPresence(c, {} as Presence, () => false);
  return { c, presence };
}

describe.skipIf(skip)('watch:{peer} has a TTL renewed by the watchers', () => {
  it('an entry gets the TTL; renewals keep it and restore a key that is gone; unwatch removes it', async () => {
    const clock = new ManualClock();
    const { c, presence } = await node(clock);
    const r = redis!.client();
    const key = c.keys.watch('peerA');
    presence.watch('w1', ['peerA', 'peerB'], []);
    await expect.poll(() => r.smembers(key), { timeout: 10_000 }).toEqual([`${c.id}\tw1`]);
    const ttl = await r.pttl(key);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(TTL);
    // Gone (a Redis outage longer than the TTL, or a restart without its data): the next
    // renewal writes this node's entries again.
    await r.del(key);
    await clock.advanceAsync(REFRESH);
    await expect.poll(() => r.smembers(key), { timeout: 10_000 }).toEqual([`${c.id}\tw1`]);
    expect(await r.pttl(key)).toBeGreaterThan(0);
    // Renewed: the TTL is set back to the full length (shorten it, renew, see it long again).
    await r.pexpire(key, 5_000);
    await clock.advanceAsync(REFRESH);
    await expect.poll(() => r.pttl(key), { timeout: 10_000 }).toBeGreaterThan(5_000);
    presence.watch('w1', [], ['peerA']);
    await expect.poll(() => r.exists(key), { timeout: 10_000 }).toBe(0);
    expect(presence.leases.size).toBe(1); // peerB still
    presence.leases.stop();
  });

  it('a node that stops renewing (crashed) leaves keys that expire: nothing renews them', async () => {
    const clock = new ManualClock();
    const { c, presence } = await node(clock);
    const r = redis!.client();
    const key = c.keys.watch('peerC');
    presence.watch('w2', ['peerC'], []);
    await expect.poll(() => r.smembers(key), { timeout: 10_000 }).toEqual([`${c.id}\tw2`]);
    presence.leases.stop(); // as if it crashed: no renewal, no SREM
    await r.pexpire(key, 5_000);
    await clock.advanceAsync(3 * REFRESH);
    const left = await r.pttl(key);
    // Still expiring (never renewed to the full TTL); -2 if it already went.
    expect(left === -2 || (left > 0 && left <= 5_000)).toBe(true);
  });

  it('entries of several watchers of several peers: every key has a TTL', async () => {
    const clock = new ManualClock();
    const { c, presence } = await node(clock);
    const r = redis!.client();
    const peers = Array.from({ length: 50 }, (_, i) => `p${i}`);
    presence.watch('w3', peers, []);
    presence.watch('w4', peers.slice(0, 10), []);
    await expect.poll(() => r.scard(c.keys.watch('p0')), { timeout: 10_000 }).toBe(2);
    const keys = await r.keys(`${c.keys.prefix}watch:*`);
    expect(keys).toHaveLength(50);
    for (const k of keys) expect(await r.pttl(k)).toBeGreaterThan(0);
    presence.leases.stop();
  });
});
