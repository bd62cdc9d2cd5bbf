/**
 * The two peer gates admit the same addresses (issue 12): serve's own relay with its rendezvous
 * table in memory (src/signaling/rendezvous.ts) and a fleet relay (`natpush relay --redis`)
 * reading what serve nodes wrote to Redis (src/cluster/relay-peer-gate.ts), here with two real
 * serve nodes (createServe --redis --no-relay, the CLI's composition) on a redis-server of its
 * own. One table, one scenario:
 *
 * - a and b exchange candidates through serve (b allows a), carol is registered but in
 *   rendezvous with nobody; all three connect from 127.0.0.1;
 * - b never allocates on the relay: the only address known for it is the one its signaling
 *   connection comes from. a's permission toward it is granted (serve saw b there), carol's is
 *   refused (no partner of hers was seen anywhere) — by both gates.
 *
 * Before serve nodes wrote their peers' connection addresses to Redis, the fleet relay refused
 * a: it only counted the addresses relays saw in Allocates.
 *
 * And serve's own relay on a node of a cluster (src/cluster/serve-peer-gate.ts): what another
 * node noted (a peer's allocation on that node's relay) is admitted too, through Redis, and what
 * this node knows still is while Redis is down.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterKeys } from '../../../src/cluster/keys.js';
import { FleetPeerGate } from '../../../src/cluster/relay-peer-gate.js';
import { RendezvousPairs } from '../../../src/cluster/rendezvous-pairs.js';
import { ServePeerGate } from '../../../src/cluster/serve-peer-gate.js';
import { Redis } from 'ioredis';
import { nodeUdpNetwork } from '../../../src/net/index.js';
import {
  createRelayServer,
  isTurnClientError,
  mintTurnCredentials,
  sharedSecret,
  TurnClient,
} from '../../../src/relay/index.js';
import { createRelay } from '../../../src/server/create-relay.js';
import { createServe } from '../../../src/server/create-serve.js';
import { Rendezvous } from '../../../src/signaling/rendezvous.js';
import { startSignalingServer } from '../../../src/signaling/server.js';
import { ManualClock, systemClock } from '../../../src/util/clock.js';
import { silentLogger } from '../../../src/util/logger.js';
import { missingPrereq } from '../../support/prereq.js';
import { API_KEY, RawClient, allow } from '../signaling/helpers.js';
import { startRedis, type TestRedis } from './redis-server.js';
import { hookMs, teardown, type Step } from './teardown.js';

const skip = missingPrereq('integration (redis-server)', {
  commands: { 'redis-server': 'redis-server' },
});
const SECRET = 'gate-parity-secret';
/** expect.poll's default bound is 1 s: too tight for a loaded 2-core CI machine. */
const POLL = { timeout: 30_000, interval: 200 };

let redis: TestRedis | undefined;
/** Closed in reverse order of opening (clients before servers), whatever a test did. */
const closers: Step[] = [];
const dirs: string[] = [];

beforeAll(async () => {
  if (!skip) redis = await startRedis();
}, 60_000);
afterAll(
  () =>
    teardown([
      ...closers.reverse(),
      ['redis-server', () => redis?.stop()],
      ['temp dirs', () => dirs.forEach((d) => rmSync(d, { recursive: true, force: true }))],
    ]),
  hookMs(40),
);

/** Where peers log in (two nodes, or one twice) and the relay's UDP port. */
interface Setup {
  nodes: [string, string];
  relayPort: number;
}

/** serve's own relay: one signaling server, its Rendezvous as the relay's gate. */
async function single(): Promise<Setup> {
  const rendezvous = new Rendezvous({ clock: systemClock });
  const s = await startSignalingServer({ apiKeys: [API_KEY], rendezvous });
  closers.push(['signaling server', () => s.close()]);
  const relay = await createRelayServer({
    net: nodeUdpNetwork,
    logger: silentLogger,
    listenAddress: '127.0.0.1',
    port: 0,
    relayAddress: '127.0.0.1',
    credentials: sharedSecret(SECRET),
    peerPolicy: { allow: ['127.0.0.0/8'] }, // the address policy allows loopback; the gate decides
    peerGate: rendezvous,
  });
  closers.push(['relay', () => relay.close()]);
  return { nodes: [s.url, s.url], relayPort: relay.addresses().udp.port };
}

/** A fleet: two serve nodes on Redis without a relay, one `natpush relay --redis`. */
async function fleet(): Promise<Setup> {
  const node = async () => {
    const dir = mkdtempSync(join(tmpdir(), 'natpush-gate-parity-'));
    dirs.push(dir);
    const s = await createServe(
      { host: '127.0.0.1', port: 0, 'data-dir': dir, stun: false, relay: false, redis: redis!.url },
      { logger: silentLogger, env: { NATPUSH_TURN_SECRET: SECRET, NATPUSH_API_KEY: API_KEY } },
    );
    closers.push(['serve node', () => s.close()]);
    return s.services[0]!.endpoints[0]!;
  };
  const nodes: [string, string] = [await node(), await node()];
  const relay = await createRelay(
    {
      listen: '127.0.0.1',
      port: 0,
      secret: SECRET,
      'allow-loopback-peers': true,
      redis: redis!.url,
      'log-level': 'error',
    },
    { logger: silentLogger },
  );
  closers.push(['fleet relay', () => relay.close()]);
  return { nodes, relayPort: relay.addresses().udp.port };
}

async function login(url: string): Promise<{ c: RawClient; id: string }> {
  const c = await RawClient.open(url);
  closers.push(['client', async () => c.ws.terminate()]);
  return { c, id: (await c.login()).peerId };
}

async function allocate(relayPort: number, user: string): Promise<TurnClient> {
  const t = await TurnClient.allocate({
    server: { address: '127.0.0.1', port: relayPort },
    ...mintTurnCredentials(SECRET, user, 3600, Date.now()),
    net: nodeUdpNetwork,
  });
  closers.push(['TURN client', () => t.close()]);
  return t;
}

/** Granted (true), 403 (false); anything else fails the test. */
async function permitted(t: TurnClient, ip: string): Promise<boolean> {
  return t.createPermission(ip).then(
    () => true,
    (err: unknown) => {
      if (isTurnClientError(err) && err.status === 403) return false;
      throw err;
    },
  );
}

describe.skipIf(skip).each([
  ["serve's own relay (rendezvous in memory)", single],
  ['a fleet relay (rendezvous in Redis, two serve nodes)', fleet],
])('peer gate of %s', (_, setup) => {
  it("grants a partner's signaling address, with no allocation of its own; nobody else", async () => {
    const { nodes, relayPort } = await setup();
    const a = await login(nodes[0]);
    const b = await login(nodes[1]);
    const carol = await login(nodes[1]);
    await allow(b.c, [a.id]);
    const candidates = [
      { type: 'host', protocol: 'udp', address: '127.0.0.1', port: 4000, priority: 1 },
    ];
    a.c.send({ type: 'candidates', to: b.id, rid: 'parity-1', candidates });
    await b.c.wait('candidates');
    // a and carol allocate; b does not: 127.0.0.1 is known for b only as its connection's source.
    const ta = await allocate(relayPort, a.id);
    const tc = await allocate(relayPort, carol.id);
    // The fleet's writes reach Redis beside the frames (not awaited by them): polled, bounded.
    // A refusal is cached 1 s by the fleet gate, so each poll may see the previous verdict.
    await expect.poll(() => permitted(ta, '127.0.0.1'), POLL).toBe(true);
    // carol: registered, allocated from the same address, but a partner of nobody.
    expect(await permitted(tc, '127.0.0.1')).toBe(false);
  }, 90_000);
});

describe.skipIf(skip)("serve's seen addresses in Redis", () => {
  it('are written once in a while, expire with the TTL unless a grant re-arms them', async () => {
    const clock = new ManualClock(1_700_000_000_000);
    const keys = new ClusterKeys('seen-parity:');
    const r = redis!.client();
    await r.hset(keys.peers, 'alice', 'k', 'bob', 'k');
    const serve = new RendezvousPairs({ redis: r, keys, clock });
    const gate = new FleetPeerGate({ redis: r, keys, clock });
    const may = async (user: string, ip: string) => {
      await gate.prepare(user, [ip]);
      return gate.allows(user, ip);
    };
    await serve.write('alice', 'bob');
    await serve.writeSeen('bob', '198.51.100.8');
    await serve.writeSeen('bob', '198.51.100.8'); // within rewriteMs: not written again
    expect(serve.seenWrites).toBe(1);
    // The key has the TTL a relay's write gives it (RENDEZVOUS_TTL_MS, 15 min).
    expect(await r.pttl(keys.relaySeen('198.51.100.8'))).toBeGreaterThan(14 * 60_000);
    expect(await may('alice', '198.51.100.8')).toBe(true);
    expect(await may('bob', '198.51.100.8')).toBe(false); // bob's own address: not a partner's
    // Not used and not written again for 15 min: forgotten (the field's expiry; the key's PX
    // TTL is Redis's clock, not the ManualClock, so the field is what the gate reads).
    clock.advance(15 * 60_000 + 1);
    expect(await may('alice', '198.51.100.8')).toBe(false);
    // Written again after rewriteMs: seen again (the pair too).
    await serve.write('alice', 'bob');
    await serve.writeSeen('bob', '198.51.100.8');
    expect(serve.seenWrites).toBe(2);
    clock.advance(1_000); // past the cached refusal
    expect(await may('alice', '198.51.100.8')).toBe(true);
    await gate.close();
  });
});

describe.skipIf(skip)("serve's own relay on a node of a cluster", () => {
  it("admits a partner's allocation noted on another node; its own knowledge survives an outage", async () => {
    const keys = new ClusterKeys('serve-gate:');
    const r = redis!.client();
    await r.hset(keys.peers, 'alice', 'k', 'bob', 'k', 'carol', 'k');
    /** A node: its Rendezvous (mirrored to Redis as create-serve does) and its relay's gate. */
    const node = async () => {
      const local = new Rendezvous({ clock: systemClock });
      const seen = new RendezvousPairs({ redis: r, keys });
      local.onSeen = (peer, ip) => seen.seen(peer, ip);
      // The gate's own connection fails at once while Redis is down (as openFleetPeerGate's).
      const conn = new Redis({
        path: redis!.socket,
        lazyConnect: true,
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        retryStrategy: () => 50,
      });
      conn.on('error', () => {});
      await conn.connect();
      const fleet = new FleetPeerGate({ redis: conn, ownsRedis: true, keys });
      closers.push(['fleet gate', () => fleet.close()]);
      return { local, gate: new ServePeerGate(local, fleet), seen };
    };
    const n1 = await node();
    const n2 = await node();
    const may = async (user: string, ip: string) => {
      await n1.gate.prepare(user, [ip]);
      return n1.gate.allows(user, ip);
    };
    const at = (ip: string) => ({ address: ip, port: 40_000 });
    // alice (node 1) and bob (node 2) in rendezvous: both nodes note it (bus `f`/`g`), and it
    // reaches Redis (server.ts); bob's signaling address reaches node 1 with the frames.
    for (const n of [n1, n2]) n.local.noteForward('alice', 'bob');
    await n1.seen.write('alice', 'bob');
    n1.local.noteAddress('bob', '198.51.100.50');
    // bob allocates on node 2's relay: node 1's memory never hears of it.
    await n2.gate.noteAllocation('bob', at('198.51.100.8'), at('203.0.113.2'));
    expect(n1.local.allows('alice', '203.0.113.2')).toBe(false); // node 1's memory alone
    expect(await may('alice', '203.0.113.2')).toBe(true); // bob's relayed address, via Redis
    expect(await may('alice', '198.51.100.8')).toBe(true); // his client source too
    expect(await may('carol', '203.0.113.2')).toBe(false); // not a partner of bob's
    expect(await may('alice', '192.0.2.1')).toBe(false); // nobody was seen there
    await redis!.restart({
      whileDown: async () => {
        // What node 1 saw itself needs no Redis; what it has not confirmed is refused.
        expect(await may('alice', '198.51.100.50')).toBe(true);
        expect(await may('carol', '198.51.100.8')).toBe(false);
      },
    });
  });
});
