/**
 * The peer gate of a fleet relay (`natpush relay --redis`; src/cluster/relay-peer-gate.ts) on a
 * real redis-server of its own (unix socket, no port: bench/lib/cluster-redis.ts):
 *
 * - the gate itself, its time on a ManualClock: a registered peer gets a permission only toward
 *   an address where a fleet relay saw a peer it is in rendezvous with (the pairs serve nodes
 *   write, src/cluster/rendezvous-pairs.ts); refusals are cached 1 s, the "seen" records and the
 *   pairs expire and are re-armed by use; the cache is bounded; a Redis outage refuses new
 *   grants and keeps grants Redis confirmed within 10 minutes;
 * - the relay composed as the CLI composes it (createRelay with --redis): ChannelBind and
 *   CreatePermission between registered peers in rendezvous, 403 toward other addresses, for an
 *   unregistered credential holder and for a registered peer without a rendezvous with the
 *   target, and new permissions refused while Redis is down;
 * - two real serve nodes on the same Redis: candidates forwarded across them are what opens
 *   the fleet relay between the two peers, and only between them; and
 *   `--workers 2` (Node 24), where each worker has its own gate and sees what the other noted.
 */
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type TestRedis } from '../../../bench/lib/cluster-redis.js';
import { ClusterKeys } from '../../../src/cluster/keys.js';
import { FleetPeerGate } from '../../../src/cluster/relay-peer-gate.js';
import { openCluster } from '../../../src/cluster/open-cluster.js';
import { RendezvousPairs } from '../../../src/cluster/rendezvous-pairs.js';
import { nodeUdpNetwork } from '../../../src/net/index.js';
import { TurnClient, isTurnClientError, mintTurnCredentials } from '../../../src/relay/index.js';
import { createRelay, type Relay } from '../../../src/server/create-relay.js';
import { startSignalingServer } from '../../../src/signaling/server.js';
import { ManualClock } from '../../../src/util/clock.js';
import { silentLogger } from '../../../src/util/logger.js';
import { node24OrSkip } from '../../support/node24.js';
import { missingPrereq } from '../../support/prereq.js';
import { pidOfUdpPort, startRelayWorkers } from '../../support/relay-workers.js';
import { API_KEY, RawClient, allow } from '../signaling/helpers.js';

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
  /** `a` and `b` are in rendezvous, as a serve node writes it (on the gate's clock). */
  const pair = (a: string, b: string) =>
    new RendezvousPairs({ redis: redis.client(), keys, clock }).write(a, b);
  return { g, clock, keys, may, at, pair };
}

/** `a` and `b` are in rendezvous, as a serve node on the default prefix writes it. */
const pair = (a: string, b: string) =>
  new RendezvousPairs({ redis: redis.client(), keys: new ClusterKeys() }).write(a, b);

describe.skipIf(skip)('FleetPeerGate on redis-server', () => {
  it('grants a registered peer an address where a peer in rendezvous with it was seen, nothing else', async () => {
    const { g, clock, may, at, pair } = await gate();
    await g.noteAllocation('alice', at('198.51.100.7'), at('203.0.113.1'));
    await pair('alice', 'bob');
    // Only alice herself was seen there: not a peer of hers.
    expect(await may('alice', '198.51.100.7')).toBe(false);
    // carol is registered and allocated, but never in rendezvous with alice.
    await g.noteAllocation('carol', at('198.51.100.9'), at('203.0.113.1'));
    expect(await may('alice', '198.51.100.9')).toBe(false);
    await g.noteAllocation('bob', at('198.51.100.8'), at('203.0.113.1'));
    expect(await may('alice', '198.51.100.8')).toBe(true); // bob's client source
    expect(await may('alice', '203.0.113.1')).toBe(true); // bob's relayed address
    expect(await may('alice', '::ffff:198.51.100.8')).toBe(true); // the same IPv4 address
    expect(await may('alice', '192.0.2.99')).toBe(false); // no peer was seen there
    expect(await may('eve', '198.51.100.8')).toBe(false); // eve is not a registered peer
    await pair('eve', 'bob');
    clock.advance(1_000); // past the cached refusal
    expect(await may('eve', '198.51.100.8')).toBe(false); // a pair does not register eve
    expect(g.allows('carol', '198.51.100.8')).toBe(false); // never prepared: fails closed
    // The IPv4-mapped form was the cached verdict of the same address: 7 lookups.
    expect(g.stats).toMatchObject({ lookups: 7, granted: 2, refused: 5, redisErrors: 0 });
  });

  it('the pairs are symmetric, bounded per peer, and written once per node in a while', async () => {
    const { g, clock, keys, at } = await gate();
    const pairs = new RendezvousPairs({
      redis: redis.client(),
      keys,
      clock,
      limits: { maxPartners: 3 },
    });
    await pairs.write('alice', 'bob');
    await pairs.write('bob', 'alice'); // the same pair: not written again
    expect(pairs.writes).toBe(1);
    const r = redis.client();
    expect(await r.zrange(keys.rendezvous('bob'), '0', '-1')).toEqual(['alice']);
    for (const p of ['p1', 'p2', 'p3', 'p4']) {
      clock.advance(1);
      await pairs.write('alice', p);
    }
    // The 3 latest partners stay; bob, the oldest, is forgotten (forgetting only revokes).
    expect(await r.zrange(keys.rendezvous('alice'), '0', '-1')).toEqual(['p2', 'p3', 'p4']);
    expect(await r.pttl(keys.rendezvous('alice'))).toBeGreaterThan(0);
    await g.noteAllocation('bob', at('198.51.100.8'), at('203.0.113.1'));
    await g.prepare('alice', ['198.51.100.8']);
    expect(g.allows('alice', '198.51.100.8')).toBe(false);
  });

  it('a refusal stands 1 s; a seen address and a pair expire after 15 min unless a grant re-arms them', async () => {
    const { g, clock, may, at, pair } = await gate();
    await pair('alice', 'bob');
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
    // The pair was written 30 min ago: the grants kept it (and bob's address) alive.
    // Not used for 15 min: bob's relayed address (seen at the same time, never used) is gone.
    await pair('carol', 'bob');
    expect(await may('carol', '203.0.113.1')).toBe(false);
    expect(await may('carol', '198.51.100.8')).toBe(true);
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
    const { g, clock, may, at, pair } = await gate();
    await pair('alice', 'bob');
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

describe.skipIf(skip)('natpush relay --redis: the peer gate in the composed relay', () => {
  it('relays between registered peers; 403 toward other addresses and for unregistered users', async () => {
    await redis.client().hset(new ClusterKeys().peers, 'alice', 'k', 'bob', 'k');
    const r = await relay();
    const alice = await client(r, 'alice');
    const bob = await client(r, 'bob');
    const eve = await client(r, 'eve'); // valid credentials, not a registered peer
    await pair('alice', 'bob');
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
    await pair('alice', 'bob');
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

describe.skipIf(skip)('serve nodes write the rendezvous pairs a fleet relay admits', () => {
  it('opens the relay between two peers whose candidates crossed nodes, not to a third', async () => {
    const node = async () => {
      const c = await openCluster(redis.url, silentLogger);
      const s = await startSignalingServer({
        apiKeys: [API_KEY],
        store: c.store,
        cluster: c.cluster,
        sessionSecret: c.sessionSecret,
      });
      closers.push(() => s.close());
      return s;
    };
    const login = async (url: string) => {
      const c = await RawClient.open(url);
      closers.unshift(async () => c.ws.terminate()); // before the serve nodes
      return { c, id: (await c.login()).peerId };
    };
    const [n1, n2] = [await node(), await node()];
    const [a, b, carol] = [await login(n1.url), await login(n2.url), await login(n2.url)];
    const keys = new ClusterKeys();
    // All three are registered peers (the login wrote them to the cluster's registrations).
    for (const p of [a, b, carol]) expect(await redis.client().hexists(keys.peers, p.id)).toBe(1);
    await allow(b.c, [a.id]);
    const candidates = [
      { type: 'host', protocol: 'udp', address: '127.0.0.1', port: 4000, priority: 1 },
    ];
    a.c.send({ type: 'candidates', to: b.id, rid: 'fg-1', candidates });
    await b.c.wait('candidates');
    // The pair reaches Redis beside the frame (not awaited by it): wait for it, bounded.
    await expect
      .poll(() => redis.client().zscore(keys.rendezvous(a.id), b.id), { timeout: 30_000 })
      .not.toBeNull();
    expect(await redis.client().zscore(keys.rendezvous(b.id), a.id)).not.toBeNull();
    expect(await redis.client().exists(keys.rendezvous(carol.id))).toBe(0);
    const r = await relay();
    const [ta, tb, tc] = [await client(r, a.id), await client(r, b.id), await client(r, carol.id)];
    // carol: registered, allocated on the same relay, every address seen — but never in
    // rendezvous with b (on loopback all of them share 127.0.0.1, so only the pair decides).
    const e = await tc.createPermission(tb.relayedAddress.address).catch((err: unknown) => err);
    expect(refused(e), String(e)).toBe(true);
    await ta.bindChannel(tb.relayedAddress);
    await tb.bindChannel(ta.relayedAddress);
    const got = new Promise<number[]>((res) => tb.onData((d) => res([...d])));
    ta.send(tb.relayedAddress, Uint8Array.of(7, 8, 9));
    expect(await got).toEqual([7, 8, 9]);
    expect((await r.counters()).peerGateRefused).toBe(1);
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
    await pair('alice', 'bob');
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
