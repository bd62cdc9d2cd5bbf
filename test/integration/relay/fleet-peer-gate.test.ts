/**
 * The peer gate of a fleet relay (`natpush relay --redis`; src/cluster/relay-peer-gate.ts) on a
 * real redis-server of its own (unix socket, no port: bench/lib/cluster-redis.ts):
 *
 * - the gate itself, its time on a ManualClock: a registered peer gets a permission only toward
 *   an address where a fleet relay saw another registered peer; refusals are cached 1 s, the
 *   "seen" records expire and are re-armed by use; the cache is bounded; a Redis outage refuses
 *   new grants and keeps grants Redis confirmed within 10 minutes;
 * - the relay composed as the CLI composes it (createRelay with --redis): ChannelBind and
 *   CreatePermission between registered peers, 403 toward other addresses and for an
 *   unregistered credential holder, and new permissions refused while Redis is down; and
 *   `--workers 2` (Node 24), where each worker has its own gate and sees what the other noted.
 */
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type TestRedis } from '../../../bench/lib/cluster-redis.js';
import { ClusterKeys } from '../../../src/cluster/keys.js';
import { FleetPeerGate } from '../../../src/cluster/relay-peer-gate.js';
import { nodeUdpNetwork } from '../../../src/net/index.js';
import { TurnClient, isTurnClientError, mintTurnCredentials } from '../../../src/relay/index.js';
import { createRelay, type Relay } from '../../../src/server/create-relay.js';
import { ManualClock } from '../../../src/util/clock.js';
import { silentLogger } from '../../../src/util/logger.js';
import { node24OrSkip } from '../../support/node24.js';
import { missingPrereq } from '../../support/prereq.js';
import { pidOfUdpPort, startRelayWorkers } from '../../support/relay-workers.js';

const skip = missingPrereq('integration (redis-server)', {
  commands: { 'redis-server': 'redis-server' },
});
const SECRET = 'fleet-gate-secret';
const refused = (e: unknown): boolean => isTurnClientError(e) && e.status === 403;

let redis: TestRedis;
const closers: (() => Promise<unknown>)[] = [];
beforeAll(async () => {
  if (!skip) redis = await startRedis();
}, 60_000);
afterEach(async () => {
  await Promise.allSettled(closers.splice(0).map((c) => c()));
}, 30_000);
afterAll(() => redis?.stop(), 30_000);

/** A client that fails at once while Redis is down (the gate's own connection does the same). */
async function gateRedis(): Promise<Redis> {
  const r = new Redis({
    path: redis.socket,
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => 50,
  });
  r.on('error', () => {});
  await r.connect();
  closers.push(async () => r.disconnect());
  return r;
}

let prefixes = 0;
async function gate(limits: ConstructorParameters<typeof FleetPeerGate>[0]['limits'] = {}) {
  const clock = new ManualClock(1_700_000_000_000);
  const keys = new ClusterKeys(`gate${++prefixes}:`);
  const g = new FleetPeerGate({ redis: await gateRedis(), keys, clock, limits });
  await redis.client().hset(keys.peers, 'alice', 'k', 'bob', 'k', 'carol', 'k');
  /** May `user` reach `ip` now (prepare, then allows, as the relay's dispatcher does)? */
  const may = async (user: string, ip: string): Promise<boolean> => {
    await g.prepare(user, [ip]);
    return g.allows(user, ip);
  };
  const at = (ip: string) => ({ address: ip, port: 40_000 });
  return { g, clock, keys, may, at };
}

describe.skipIf(skip)('FleetPeerGate on redis-server', () => {
  it('grants a registered peer an address where another registered peer was seen, nothing else', async () => {
    const { g, may, at } = await gate();
    await g.noteAllocation('alice', at('198.51.100.7'), at('203.0.113.1'));
    // Only alice herself was seen there: not a peer of hers.
    expect(await may('alice', '198.51.100.7')).toBe(false);
    await g.noteAllocation('bob', at('198.51.100.8'), at('203.0.113.1'));
    expect(await may('alice', '198.51.100.8')).toBe(true); // bob's client source
    expect(await may('alice', '203.0.113.1')).toBe(true); // bob's relayed address
    expect(await may('alice', '::ffff:198.51.100.8')).toBe(true); // the same IPv4 address
    expect(await may('alice', '192.0.2.99')).toBe(false); // no peer was seen there
    expect(await may('eve', '198.51.100.8')).toBe(false); // eve is not a registered peer
    expect(g.allows('carol', '198.51.100.8')).toBe(false); // never prepared: fails closed
    // The IPv4-mapped form was the cached verdict of the same address: 5 lookups.
    expect(g.stats).toMatchObject({ lookups: 5, granted: 2, refused: 3, redisErrors: 0 });
  });

  it('a refusal stands 1 s; a seen address expires after 15 min unless a grant re-arms it', async () => {
    const { g, clock, may, at } = await gate();
    expect(await may('alice', '198.51.100.8')).toBe(false);
    await g.noteAllocation('bob', at('198.51.100.8'), at('203.0.113.1'));
    expect(await may('alice', '198.51.100.8')).toBe(false); // the cached refusal
    clock.advance(1_000);
    expect(await may('alice', '198.51.100.8')).toBe(true);
    // Used every 10 min (a permission refresh after its fresh verdict lapsed): stays seen.
    for (let i = 0; i < 3; i++) {
      clock.advance(10 * 60_000);
      expect(await may('alice', '198.51.100.8')).toBe(true);
    }
    // Not used for 15 min: bob's relayed address (seen at the same time, never used) is gone.
    expect(await may('carol', '203.0.113.1')).toBe(false);
    clock.advance(15 * 60_000 + 1);
    expect(await may('alice', '198.51.100.8')).toBe(false);
  });

  it('bounds its cache of verdicts', async () => {
    const { g, may } = await gate({ maxEntries: 4 });
    for (let i = 1; i <= 20; i++) await may('alice', `192.0.2.${i}`);
    expect(g.size).toBeLessThanOrEqual(4);
    expect(g.stats.refused).toBe(20);
  });

  it('a Redis outage refuses new grants and keeps grants confirmed within 10 minutes', async () => {
    const { g, clock, may, at } = await gate();
    await g.noteAllocation('alice', at('198.51.100.7'), at('203.0.113.1'));
    await g.noteAllocation('bob', at('198.51.100.8'), at('203.0.113.1'));
    expect(await may('alice', '198.51.100.8')).toBe(true);
    await redis.restart({
      whileDown: async () => {
        clock.advance(60_000); // past the fresh verdict: Redis is asked again, and fails
        expect(await may('alice', '198.51.100.8')).toBe(true); // confirmed 1 min ago
        expect(await may('bob', '198.51.100.7')).toBe(false); // new: fails closed
        clock.advance(10 * 60_000);
        expect(await may('alice', '198.51.100.8')).toBe(false); // confirmed 11 min ago
        expect(g.stats.staleGrants).toBe(1);
        expect(g.stats.redisErrors).toBe(3);
      },
    });
  });
});

describe.skipIf(skip)('natpush relay --redis: the peer gate in the composed relay', () => {
  async function relay(): Promise<Relay> {
    const r = await createRelay(
      {
        listen: '127.0.0.1',
        port: 0,
        secret: SECRET,
        'allow-loopback-peers': true, // the address policy allows 127.0.0.0/8; the gate decides
        redis: redis.url,
        'log-level': 'error',
      },
      { logger: silentLogger },
    );
    closers.push(() => r.close());
    return r;
  }

  async function client(r: Relay, user: string): Promise<TurnClient> {
    const c = await TurnClient.allocate({
      server: { address: '127.0.0.1', port: r.addresses().udp.port },
      ...mintTurnCredentials(SECRET, user, 3600, Date.now()),
      net: nodeUdpNetwork,
    });
    closers.unshift(() => c.close()); // before the relay
    return c;
  }

  it('relays between registered peers; 403 toward other addresses and for unregistered users', async () => {
    await redis.client().hset(new ClusterKeys().peers, 'alice', 'k', 'bob', 'k');
    const r = await relay();
    const alice = await client(r, 'alice');
    const bob = await client(r, 'bob');
    const eve = await client(r, 'eve'); // valid credentials, not a registered peer
    await alice.bindChannel(bob.relayedAddress);
    await bob.bindChannel(alice.relayedAddress);
    const got = new Promise<number[]>((res) => bob.onData((d) => res([...d])));
    alice.send(bob.relayedAddress, Uint8Array.of(1, 2, 3));
    expect(await got).toEqual([1, 2, 3]);
    expect(refused(await alice.createPermission('127.0.0.2').catch((e: unknown) => e))).toBe(true);
    expect(refused(await eve.bindChannel(bob.relayedAddress).catch((e: unknown) => e))).toBe(true);
    expect((await r.counters()).peerGateRefused).toBe(2);
  });

  it('while Redis is down a new permission is refused; after it is back, granted', async () => {
    await redis.client().hset(new ClusterKeys().peers, 'alice', 'k', 'bob', 'k');
    const r = await relay();
    const alice = await client(r, 'alice');
    const bob = await client(r, 'bob');
    await alice.bindChannel(bob.relayedAddress);
    await redis.restart({
      whileDown: async () => {
        const e = await bob.createPermission('127.0.0.1').catch((err: unknown) => err);
        expect(refused(e), String(e)).toBe(true);
      },
    });
    // The gate's connection comes back within its retry delay (≤ 1 s); polled, bounded.
    let granted = false;
    for (const end = Date.now() + 20_000; !granted && Date.now() < end;) {
      granted = await bob.createPermission('127.0.0.1').then(
        () => true,
        async (err: unknown) => {
          if (!refused(err)) throw err;
          await new Promise((res) => setTimeout(res, 200));
          return false;
        },
      );
    }
    expect(granted).toBe(true);
  });
});

const NODE24 = skip ? undefined : node24OrSkip();

describe.skipIf(skip || !NODE24)('natpush relay --redis --workers 2: a gate in each worker', () => {
  it('a client of one worker is granted the address of a peer the other worker noted', async () => {
    await redis.client().hset(new ClusterKeys().peers, 'alice', 'k', 'bob', 'k');
    const r = await startRelayWorkers('static:unused', ['--redis', redis.url, '--secret', SECRET], {
      node: NODE24!,
      mode: 'reuseport',
    });
    closers.push(() => r.stop());
    const allocate = async (user: string): Promise<TurnClient> => {
      const c = await TurnClient.allocate({
        server: { address: '127.0.0.1', port: r.port },
        ...mintTurnCredentials(SECRET, user, 3600, Date.now()),
        net: nodeUdpNetwork,
      });
      closers.unshift(() => c.close());
      return c;
    };
    const alice = await allocate('alice');
    const aliceOn = pidOfUdpPort('127.0.0.1', alice.relayedAddress.port);
    // bob from new source ports until the kernel's hash puts him on the other worker.
    let bob = await allocate('bob');
    for (let i = 0; i < 40 && pidOfUdpPort('127.0.0.1', bob.relayedAddress.port) === aliceOn; i++) {
      bob = await allocate('bob');
    }
    expect(pidOfUdpPort('127.0.0.1', bob.relayedAddress.port)).not.toBe(aliceOn);
    await alice.bindChannel(bob.relayedAddress);
    await bob.bindChannel(alice.relayedAddress);
    const e = await alice.createPermission('127.0.0.2').catch((err: unknown) => err);
    expect(refused(e), String(e)).toBe(true);
  });
});
