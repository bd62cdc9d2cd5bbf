/**
 * Three signaling nodes in this process on one real redis-server: a notification sent on one
 * node reaches a peer on another and its end-to-end ack comes back; the mailbox dedupes across
 * nodes; presence and rendezvous frames cross nodes only where the allow list says so; a peer
 * that moves to another node gets what was stored meanwhile; a peer connecting to a second
 * node replaces its first session.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCluster } from '../../../src/cluster/open-cluster.js';
import { startSignalingServer, type SignalingServer } from '../../../src/signaling/server.js';
import { API_KEY, RawClient, allow, httpSession, post } from '../signaling/helpers.js';
import { generateIdentity, signChallenge } from '../../../src/signaling/identity.js';
import { startRedis, type TestRedis } from './redis-server.js';
import { all, hookMs, teardown } from './teardown.js';
import type { Identity } from '../../../src/signaling/identity.js';
import { Rendezvous } from '../../../src/signaling/rendezvous.js';
import { systemClock } from '../../../src/util/clock.js';

let redis: TestRedis;
/** expect.poll's default bound is 1 s: too tight for a loaded 2-core CI machine. */
const POLL = { timeout: 30_000 };
const nodes: SignalingServer[] = [];
const clients: RawClient[] = [];

async function node(rendezvous?: Rendezvous): Promise<SignalingServer> {
  const c = await openCluster(redis.url, silent(), {
    timing: { nodeTtlMs: 1_500, heartbeatMs: 300 },
  });
  const s = await startSignalingServer({
    apiKeys: [API_KEY],
    store: c.store,
    cluster: c.cluster,
    sessionSecret: c.sessionSecret,
    ...(rendezvous ? { rendezvous } : {}),
  });
  nodes.push(s);
  return s;
}

function silent() {
  const n = () => {};
  return { debug: n, info: n, warn: n, error: n };
}

async function peer(s: SignalingServer, id?: Identity): Promise<{ c: RawClient; id: Identity }> {
  const c = await RawClient.open(s.url);
  clients.push(c);
  const me = await c.login(id);
  return { c, id: me };
}

/** Wait until the server applied everything sent before (frames are handled in order). */
async function barrier(c: RawClient): Promise<void> {
  const t = Math.random();
  c.send({ type: 'ping', t });
  await c.wait('pong', (m) => m.t === t);
}

beforeAll(async () => {
  redis = await startRedis();
  for (let i = 0; i < 3; i++) await node();
}, 60_000);

const STEPS = [
  ['clients', all(clients, (c) => c.ws.terminate())],
  ['serve nodes', all(nodes, (s) => s.close())],
  ['redis-server', () => redis?.stop()],
] as const;
afterAll(() => teardown(STEPS), hookMs(STEPS.length));

// Generous per-test bound: every wait is on an event; a loaded 2-core CI machine is slow.
describe('three serve nodes on one Redis', { timeout: 90_000 }, () => {
  it('routes a peer notification from node 1 to node 3 and the ack back, once', async () => {
    const [n1, , n3] = nodes as [SignalingServer, SignalingServer, SignalingServer];
    const b = await peer(n3);
    const a = await peer(n1);
    await allow(b.c, [a.id.peerId]);
    // The same id twice: the second is a duplicate, wherever it was sent.
    a.c.send({ type: 'notify', ref: 'r1', id: 'n-1', to: b.id.peerId, body: 'hello' });
    const acc = await a.c.wait('accepted', (m) => m.ref === 'r1');
    expect(acc.duplicate).toBe(false);
    a.c.send({ type: 'notify', ref: 'r2', id: 'n-1', to: b.id.peerId, body: 'hello' });
    expect((await a.c.wait('accepted', (m) => m.ref === 'r2')).duplicate).toBe(true);
    const d = await b.c.wait('deliver');
    expect(d.n).toMatchObject({ id: 'n-1', from: a.id.peerId, body: 'hello' });
    b.c.send({ type: 'ack', ids: ['n-1'] });
    const done = await a.c.wait('delivered');
    expect(done).toMatchObject({ id: 'n-1', to: b.id.peerId });
    await barrier(b.c);
    expect(b.c.frames.filter((f) => f.type === 'deliver')).toHaveLength(0);
  });

  it('delivers an HTTP POST made to node 2 to a peer on node 1; GET on node 2 shows it online', async () => {
    const [n1, n2] = nodes as [SignalingServer, SignalingServer];
    const b = await peer(n1);
    const r = await post(
      `${n2.url}/v1/peers/${b.id.peerId}/notifications`,
      { id: 'h-1', body: 'from the app' },
      { authorization: `Bearer ${API_KEY}` },
    );
    expect(r.status).toBe(202);
    expect(r.json.online).toBe(true);
    const d = await b.c.wait('deliver');
    expect(d.n).toMatchObject({ id: 'h-1', body: 'from the app' });
    const status = await fetch(`${n2.url}/v1/peers/${b.id.peerId}`, {
      headers: { authorization: `Bearer ${API_KEY}` },
    });
    expect(await status.json()).toMatchObject({ online: true, transport: 'websocket', mailbox: 1 });
    b.c.send({ type: 'ack', ids: ['h-1'] });
    await expect.poll(() => redis.client().zcard(`np:mb:${b.id.peerId}`), POLL).toBe(0);
  });

  it('keeps what was stored while the peer moved, and the new node replaces the old session', async () => {
    const [n1, n2, n3] = nodes as [SignalingServer, SignalingServer, SignalingServer];
    const b1 = await peer(n1);
    const a = await peer(n2);
    for (let i = 0; i < 200; i++)
      a.c.send({ type: 'notify', ref: `m${i}`, id: `m-${i}`, to: b1.id.peerId, body: `#${i}` });
    await a.c.wait('accepted', (m) => m.ref === 'm199');
    // B reconnects to node 3 without acking: node 1's session is replaced.
    const b3 = await peer(n3, b1.id);
    const closed = await b1.c.waitClose();
    expect(closed.code).not.toBe(1000);
    const got: string[] = [];
    while (got.length < 200) {
      const d = await b3.c.wait('deliver');
      got.push(d.n.id);
      b3.c.send({ type: 'ack', ids: [d.n.id] });
    }
    // Each once and in the sender's order: the local copy (128) refills from Redis in order.
    expect(got).toEqual(Array.from({ length: 200 }, (_, i) => `m-${i}`));
    await expect.poll(() => redis.client().zcard(`np:mb:${b1.id.peerId}`), POLL).toBe(0);
  });

  it("applies an SSE client's ack POSTed to another node than its stream", async () => {
    const [n1, n2] = nodes as [SignalingServer, SignalingServer];
    const id = generateIdentity();
    const token = await httpSession(n1, id);
    const ac = new AbortController();
    const stream = await fetch(`${n1.url}/v1/events`, {
      headers: { authorization: `Bearer ${token}` },
      signal: ac.signal,
    });
    const reader = stream.body!.getReader();
    const sseOut = () => n1.context.metrics.notificationsOut.get({ transport: 'sse' });
    const sseBefore = sseOut();
    let text = '';
    const r = await post(
      `${n2.url}/v1/peers/${id.peerId}/notifications`,
      { id: 'sse-1', body: 'over sse' },
      { authorization: `Bearer ${API_KEY}` },
    );
    expect(r.status).toBe(202);
    while (!text.includes('sse-1')) text += new TextDecoder().decode((await reader.read()).value);
    // The ack reaches node 2; node 1 holds the stream's in-flight map and applies it.
    const acked = await post(
      `${n2.url}/v1/acks`,
      { ids: ['sse-1'] },
      { authorization: `Bearer ${token}` },
    );
    expect(acked.status).toBe(200);
    await expect.poll(() => redis.client().zcard(`np:mb:${id.peerId}`), POLL).toBe(0);
    // Counted on node 1, which applied it, under the transport it came over.
    await expect.poll(sseOut, POLL).toBe(sseBefore + 1);
    ac.abort();
  });

  it('logs in an HTTP client whose challenge came from node 1 and whose answer lands on node 2', async () => {
    const [n1, n2, n3] = nodes as [SignalingServer, SignalingServer, SignalingServer];
    const id = generateIdentity();
    // No sticky sessions: the challenge from node 1, the answer through node 2.
    const c = await post(`${n1.url}/v1/challenge`, { peer: id.peerId, publicKey: id.publicKey });
    expect(c.status).toBe(200);
    const answer = {
      peer: id.peerId,
      publicKey: id.publicKey,
      nonce: c.json.nonce,
      signature: signChallenge(id, c.json),
    };
    const r = await post(`${n2.url}/v1/session`, answer);
    expect(r.status).toBe(200);
    // One answer per challenge cluster-wide: the same answer again, on any node, is refused.
    for (const n of [n3, n1, n2]) {
      const again = await post(`${n.url}/v1/session`, answer);
      expect([again.status, again.json.error.code]).toEqual([
        401,
        'NATPUSH_ERR_CHALLENGE_REPLAYED',
      ]);
    }
    // A wrong signature over a challenge from node 3, answered on node 1: checked, not waved on.
    const c3 = await post(`${n3.url}/v1/challenge`, { peer: id.peerId, publicKey: id.publicKey });
    const other = generateIdentity();
    const forged = await post(`${n1.url}/v1/session`, {
      ...answer,
      nonce: c3.json.nonce,
      signature: signChallenge(other, c3.json),
    });
    expect([forged.status, forged.json.error.code]).toEqual([401, 'NATPUSH_ERR_BAD_SIGNATURE']);
    // The session works on the node that issued the challenge too: a notification reaches
    // the HTTP client through node 1's long poll.
    const token = r.json.sessionToken as string;
    const sent = await post(
      `${n3.url}/v1/peers/${id.peerId}/notifications`,
      { id: 'http-x', body: 'across nodes' },
      { authorization: `Bearer ${API_KEY}` },
    );
    expect(sent.status).toBe(202);
    const poll = await fetch(`${n1.url}/v1/poll?wait=20000`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(poll.status).toBe(200);
    expect(JSON.stringify(await poll.json())).toContain('http-x');
  });

  it('shows presence across nodes only to allowed watchers, and forwards only allowed frames', async () => {
    const [n1, n2, n3] = nodes as [SignalingServer, SignalingServer, SignalingServer];
    const p = await peer(n1);
    const friend = await peer(n2);
    const stranger = await peer(n3);
    friend.c.send({ type: 'watch', peers: [p.id.peerId] });
    stranger.c.send({ type: 'watch', peers: [p.id.peerId] });
    await allow(p.c, [friend.id.peerId]);
    await friend.c.wait('presence', (m) => m.peer === p.id.peerId && m.online);
    friend.c.send({ type: 'p2p', to: p.id.peerId, data: 'aGk' });
    stranger.c.send({ type: 'p2p', to: p.id.peerId, data: 'aGk' });
    const f = await p.c.wait('p2p');
    expect(f.from).toBe(friend.id.peerId);
    // The stranger's frame is refused on node 1 and counted there, never delivered.
    await expect
      .poll(() => n1.context.metrics.registry.render(), POLL)
      .toMatch(/natpush_dropped_frames_total\{reason="rendezvous_refused",type="p2p"\} 1/);
    await barrier(p.c);
    expect(p.c.frames.filter((x) => x.type === 'p2p')).toHaveLength(0);
    expect(stranger.c.frames.filter((x) => x.type === 'presence' && x.online)).toHaveLength(0);
    // P leaves: the friend on node 2 sees it offline.
    p.c.ws.close();
    await friend.c.wait('presence', (m) => m.peer === p.id.peerId && !m.online);
  });

  it('times a punch across nodes: both sides get the same start instant', async () => {
    const [n1, n2] = nodes as [SignalingServer, SignalingServer];
    const a = await peer(n1);
    const b = await peer(n2);
    await allow(b.c, [a.id.peerId]);
    // B's route is written to Redis after its welcome; a punch toward a peer without a route is
    // dropped silently (as for an offline one), so wait for it as a retrying client would.
    await expect.poll(() => redis.client().get(`np:route:${b.id.peerId}`), POLL).not.toBeNull();
    a.c.send({ type: 'punch', to: b.id.peerId, rid: 'rid-1' });
    const [sa, sb] = await Promise.all([a.c.wait('punch-start'), b.c.wait('punch-start')]);
    expect(sa.at).toBe(sb.at);
    expect(sa.from).toBe(b.id.peerId);
    expect(sb.from).toBe(a.id.peerId);
  });

  /** Nodes x and y, each with its relay peer gate (g1, g2); a on x, b on y, b allowing a. */
  async function gatedPair() {
    const g1 = new Rendezvous({ clock: systemClock });
    const g2 = new Rendezvous({ clock: systemClock });
    const x = await node(g1);
    const y = await node(g2);
    const a = await peer(x);
    const b = await peer(y);
    await allow(b.c, [a.id.peerId]);
    return { g1, g2, x, y, a, b };
  }

  it("feeds both nodes' relay peer gates when candidates cross nodes", async () => {
    const { g1, g2, x, y, a, b } = await gatedPair();
    // Nothing admitted yet: neither relay would grant a permission toward the other peer.
    expect([g1.allows(a.id.peerId, '127.0.0.1'), g2.allows(b.id.peerId, '127.0.0.1')]).toEqual([
      false,
      false,
    ]);
    const candidates = [
      { type: 'host', protocol: 'udp', address: '127.0.0.1', port: 4000, priority: 1 },
    ];
    a.c.send({ type: 'candidates', to: b.id.peerId, rid: 'rz-1', candidates });
    await b.c.wait('candidates');
    // Each node learned the pair and where the other side connects from (loopback here).
    await expect.poll(() => g1.allows(a.id.peerId, '127.0.0.1'), POLL).toBe(true);
    expect(g2.allows(b.id.peerId, '127.0.0.1')).toBe(true);
    await x.close();
    await y.close();
  });

  it("feeds both nodes' relay peer gates when a punch crosses nodes (no candidates before)", async () => {
    const { g1, g2, x, y, a, b } = await gatedPair();
    await expect.poll(() => redis.client().get(`np:route:${b.id.peerId}`), POLL).not.toBeNull();
    a.c.send({ type: 'punch', to: b.id.peerId, rid: 'rz-p' });
    await Promise.all([a.c.wait('punch-start'), b.c.wait('punch-start')]);
    // b's node learned where a connects from with the punch request itself (bus message `p`);
    // a's node learned b's with the answer (`g`), which may still be on its way.
    expect(g2.allows(b.id.peerId, '127.0.0.1')).toBe(true);
    await expect.poll(() => g1.allows(a.id.peerId, '127.0.0.1'), POLL).toBe(true);
    await x.close();
    await y.close();
  });

  it('bounds the Redis work of re-sent watch lists (remote watch budget)', async () => {
    const [n1] = nodes as [SignalingServer];
    const w = await peer(n1);
    const b32 = 'abcdefghijklmnopqrstuvwxyz234567';
    const ids = (k: number) =>
      Array.from({ length: 256 }, (_, i) =>
        (b32[k]! + b32[i >> 5]! + b32[i & 31]!).padEnd(32, 'q'),
      );
    for (let k = 2; k < 6; k++) w.c.send({ type: 'watch', peers: ids(k) });
    await barrier(w.c);
    const remote = n1.context.presence.remote as unknown as { dropped: { watchBudget: number } };
    // The first list (256) fits the burst; the next three mostly do not (200 entries/s).
    expect(remote.dropped.watchBudget).toBeGreaterThan(256);
    expect(w.c.closed).toBeUndefined();
  });

  it('drains: a closing node tells its peers to go, and they find their mail elsewhere', async () => {
    const [n1, n2] = nodes as [SignalingServer, SignalingServer];
    const x = await node();
    const b = await peer(x);
    const a = await peer(n1);
    for (let i = 0; i < 3; i++)
      a.c.send({ type: 'notify', ref: `d${i}`, id: `d-${i}`, to: b.id.peerId, body: 'x' });
    await a.c.wait('accepted', (m) => m.ref === 'd2');
    await b.c.wait('deliver');
    const closing = x.close();
    expect((await b.c.wait('error')).code).toBe('NATPUSH_ERR_SHUTTING_DOWN');
    expect((await b.c.waitClose()).code).toBe(1001);
    await closing;
    // Its route was released: the peer is offline until it connects to another node.
    expect(await redis.client().get(`np:route:${b.id.peerId}`)).toBeNull();
    const again = await peer(n2, b.id);
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push((await again.c.wait('deliver')).n.id);
    expect(ids).toEqual(['d-0', 'd-1', 'd-2']);
  });

  it('readyz is 503 while Redis is down and 200 again once it is back', async () => {
    const url = `${nodes[0]!.url}/readyz`;
    expect((await fetch(url)).status).toBe(200);
    // Redis stays down until the node has said 503 (no race between the two on a slow machine).
    await redis.restart({
      whileDown: () => expect.poll(async () => (await fetch(url)).status, POLL).toBe(503),
    });
    await expect.poll(async () => (await fetch(url)).status, POLL).toBe(200);
  });
});
