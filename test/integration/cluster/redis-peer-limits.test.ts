/**
 * Registrations are bounded in Redis too (src/signaling/store/peer-limits.ts), with the
 * embedded stores' semantics (test/unit/signaling/peer-limits.test.ts), on a real redis-server
 * and two nodes sharing it: the cap counts every node's registrations and refuses a new peer
 * with NATPUSH_ERR_PEER_LIMIT on any node while known peers still log in; an idle registration
 * is swept with its mailbox and every node forgets it; a peer with a live route is never idle;
 * registrations written before `seen` existed get a full ttl from the node's start.
 * Time: the nodes' clock runs `offset` ahead of the system clock (no sleeps; timers stay real).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startClusterNode, type ClusterNode } from '../../../src/cluster/cluster-node.js';
import { Mailbox } from '../../../src/signaling/mailbox.js';
import { RedisStore } from '../../../src/signaling/store/redis-store.js';
import { systemClock, type Clock } from '../../../src/util/clock.js';
import { silentLogger } from '../../../src/util/logger.js';
import { startRedis, type TestRedis } from './redis-server.js';
import { hookMs, teardown } from './teardown.js';

const DAY = 86_400_000;
const [A, B, C] = ['a', 'b', 'c'].map((x) => x.repeat(32)) as [string, string, string];
const LIMITS = { ttlMs: 10 * DAY, max: 2 };

let redis: TestRedis;
const opened: (() => Promise<void>)[] = [];

beforeAll(async () => {
  redis = await startRedis();
}, 60_000);

const STEPS = [
  ['nodes', () => Promise.all(opened.splice(0).map((f) => f()))],
  ['redis-server', () => redis?.stop()],
] as const;
afterAll(() => teardown(STEPS), hookMs(STEPS.length));

class OffsetClock implements Clock {
  offset = 0;
  now(): number {
    return Date.now() + this.offset;
  }
  setTimeout(fn: () => void, ms: number) {
    return systemClock.setTimeout(fn, ms);
  }
}

interface Node {
  node: ClusterNode;
  store: RedisStore;
  m: Mailbox<RedisStore>;
}

/** A node on `prefix` with its Redis store and a Mailbox over it. */
async function node(prefix: string, clock: Clock): Promise<Node> {
  const n = await startClusterNode({ redisUrl: redis.url, prefix, clock, logger: silentLogger });
  const store = await RedisStore.open({ cluster: n, peers: LIMITS });
  const m = new Mailbox({ store, clock, logger: silentLogger, quota: 8, maxDelayMs: 1 });
  opened.push(async () => {
    await m.close();
    await store.close();
    await n.close();
  });
  return { node: n, store, m };
}

const freshPrefix = () => `np-pl-${randomBytes(4).toString('hex')}:`;

/** One login's registration, as ws-connection.ts does it. */
async function login(m: Mailbox, peer: string): Promise<string> {
  m.register(peer, `key-${peer[0]}`);
  try {
    await m.registration(peer);
    return 'welcome';
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  }
}

describe('Redis store: registrations are bounded', () => {
  it('the cap counts every node: a new peer is refused PEER_LIMIT on either node, known peers still get in', async () => {
    const clock = new OffsetClock();
    const prefix = freshPrefix();
    const n1 = await node(prefix, clock);
    const n2 = await node(prefix, clock);
    expect(await login(n1.m, A)).toBe('welcome');
    expect(await login(n2.m, B)).toBe('welcome');
    expect(await login(n1.m, C)).toBe('NATPUSH_ERR_PEER_LIMIT');
    expect(await login(n2.m, C)).toBe('NATPUSH_ERR_PEER_LIMIT');
    expect(await login(n2.m, C)).toBe('NATPUSH_ERR_PEER_LIMIT'); // not welcomed on a retry
    expect(await n1.node.redis.hlen(prefix + 'peers')).toBe(2);
    expect(n1.m.isKnown(C) || n2.m.isKnown(C)).toBe(false);
    expect([
      n1.m.registrationsDropped['peer-limit'],
      n2.m.registrationsDropped['peer-limit'],
    ]).toEqual([1, 2]);
    // Known peers, on the node they registered with and on the other one.
    expect(await login(n1.m, A)).toBe('welcome');
    expect(await login(n2.m, A)).toBe('welcome');
    expect(await login(n1.m, B)).toBe('welcome');
  });

  it('sweeps an idle registration with its mailbox, every node forgets it, and a login keeps a peer', async () => {
    const clock = new OffsetClock();
    const prefix = freshPrefix();
    const n1 = await node(prefix, clock);
    const n2 = await node(prefix, clock);
    const r = n1.node.redis;
    expect(await login(n1.m, A)).toBe('welcome');
    expect(await login(n1.m, B)).toBe('welcome');
    const t0 = clock.now();
    await n1.m.accept({
      id: 'n1',
      from: A,
      to: B,
      topic: '',
      body: 'waiting for B',
      ts: t0,
      expires: t0 + 365 * DAY,
    });
    expect(await r.zcard(prefix + 'mb:' + B)).toBe(1);
    await expect.poll(() => n2.store.isKnown(B), { timeout: 10_000 }).toBe(true);

    clock.offset += 5 * DAY;
    // A logs in again on node 2, which knows it from the broadcast: seen now (in the background).
    const seenA = clock.now(); // the login below notes A seen at this time or later
    expect(await login(n2.m, A)).toBe('welcome');
    await expect
      .poll(async () => Number(await r.zscore(prefix + 'seen', A)), { timeout: 10_000 })
      .toBeGreaterThanOrEqual(seenA);

    clock.offset += 5 * DAY + 1000; // B idle 10 days + 1 s, A 5 days
    await n1.store.sweep();
    expect(await r.hexists(prefix + 'peers', B)).toBe(0);
    expect(await r.zscore(prefix + 'seen', B)).toBeNull();
    expect(await r.exists(prefix + 'mb:' + B, prefix + 'nd:' + B, prefix + 'ut:' + B)).toBe(0);
    expect(Number(await r.hget(prefix + 'u', 'c'))).toBe(0);
    expect(await r.hexists(prefix + 'peers', A)).toBe(1);
    expect(n1.store.isKnown(B)).toBe(false);
    // B's notification counts as expired, once, on whichever node's sweep deleted it.
    expect(n1.store.expire() + n2.store.expire()).toBe(1);
    await expect.poll(() => n2.store.isKnown(B), { timeout: 10_000 }).toBe(false);
    // Each node counts the expiry once: the sweeping one and the one told by the broadcast.
    expect([n1.m.registrationsDropped.idle, n2.m.registrationsDropped.idle]).toEqual([1, 1]);
    expect(n1.m.isKnown(B)).toBe(false);
    // Room under the cap again: a new peer registers, on the other node.
    expect(await login(n2.m, C)).toBe('welcome');
  });

  it('never sweeps a peer with a live route: it counts as seen at the sweep', async () => {
    const clock = new OffsetClock();
    const prefix = freshPrefix();
    const n1 = await node(prefix, clock);
    const r = n1.node.redis;
    expect(await login(n1.m, A)).toBe('welcome');
    await n1.store.claim(A, 'websocket'); // A's session is on node 1
    clock.offset += 30 * DAY;
    const sweptAt = clock.now();
    await n1.store.sweep();
    expect(await r.hexists(prefix + 'peers', A)).toBe(1);
    expect(Number(await r.zscore(prefix + 'seen', A))).toBeGreaterThanOrEqual(sweptAt);
    n1.store.release(A);
    await expect.poll(() => r.exists(prefix + 'route:' + A), { timeout: 10_000 }).toBe(0);
    clock.offset += 10 * DAY + 60_000;
    await n1.store.sweep();
    expect(await r.hexists(prefix + 'peers', A)).toBe(0);
  });

  it('a registration carried by a group commit is seen too, so it expires like the rest', async () => {
    const clock = new OffsetClock();
    const prefix = freshPrefix();
    const n1 = await node(prefix, clock);
    const r = n1.node.redis;
    const now = clock.now();
    await n1.store.commit({
      now,
      mailboxQuota: 8,
      peers: [{ peer: A, publicKey: 'key-a' }],
      accepts: [],
      acks: [],
    });
    expect(Number(await r.zscore(prefix + 'seen', A))).toBe(now);
    clock.offset += 10 * DAY + 60_000;
    await n1.store.sweep();
    expect(await r.hexists(prefix + 'peers', A)).toBe(0);
  });

  it('registrations from before `seen` get a full ttl from the node start', async () => {
    const clock = new OffsetClock();
    const prefix = freshPrefix();
    const first = await node(prefix, clock);
    const r = first.node.redis;
    // As an older natpush wrote it: in `peers`, no score in `seen`.
    await r.hset(prefix + 'peers', C, 'key-c');
    const before = clock.now();
    const later = await node(prefix, clock);
    expect(later.store.isKnown(C)).toBe(true);
    expect(Number(await r.zscore(prefix + 'seen', C))).toBeGreaterThanOrEqual(before);
    clock.offset += 10 * DAY - 60_000;
    await later.store.sweep();
    expect(await r.hexists(prefix + 'peers', C)).toBe(1);
    clock.offset += 120_000;
    await later.store.sweep();
    expect(await r.hexists(prefix + 'peers', C)).toBe(0);
  });
});
