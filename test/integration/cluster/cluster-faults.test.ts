/**
 * Three `natpush serve --redis` processes on one real redis-server (AOF, appendfsync always).
 * Peers spread across the nodes send notifications to random peers (over WebSocket) while an
 * app POSTs to random nodes; mid-run one serve node is SIGKILLed and then Redis itself is
 * SIGKILLed and restarted. Asserted: every notification that was acknowledged (`accepted` or
 * 202) reaches its recipient's application exactly once, a retried id is stored once, the
 * killed node's peers reconnect to the other nodes and its leftover route is reaped, and a
 * watcher sees that node's peer go offline. Needs `npm run build` (it runs the real CLI).
 *
 * Scale: N_PEER + N_APP notifications (the 10,000 between 1,000 peers is the bench's
 * job: bench/cluster-throughput.ts); this file must finish well within a minute on a loaded
 * 2-core machine.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runNatpush, type NatpushProcess } from '../signaling/natpush-process.js';
import { RawClient, allow } from '../signaling/helpers.js';
import { ClusterPeer } from './cluster-peer.js';
import { startRedis, type TestRedis } from './redis-server.js';
import { all, hookMs, teardown } from './teardown.js';

const API_KEY = 'cluster-fault-test-key';
const N_PEERS = 18;
const N_PEER = 1_200;
const N_APP = 300;

let redis: TestRedis;
const dirs: string[] = [];
const nodes: { p: NatpushProcess; url: string; alive: boolean }[] = [];
const peers: ClusterPeer[] = [];
const raws: RawClient[] = [];

/** Node 0 is given `--redis`, the others `NATPUSH_REDIS_URL` (both ways of saying it). */
async function startNode(): Promise<{ p: NatpushProcess; url: string; alive: boolean }> {
  const byFlag = nodes.length === 0;
  const dir = mkdtempSync(join(tmpdir(), 'natpush-cluster-'));
  dirs.push(dir);
  const p = runNatpush(
    [
      'serve',
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--data-dir',
      dir,
      '--no-stun',
      '--no-relay',
      '--log-level',
      'error',
      ...(byFlag ? ['--redis', redis.url] : []),
    ],
    { env: { NATPUSH_API_KEY: API_KEY, ...(byFlag ? {} : { NATPUSH_REDIS_URL: redis.url }) } },
  );
  const m = await p.waitFor(/signaling listening on (http:\/\/127\.0\.0\.1:\d+)/, 60_000);
  const n = { p, url: m[1]!, alive: true };
  nodes.push(n);
  return n;
}

function otherNode(avoid: string): string {
  const live = nodes.filter((n) => n.alive && n.url !== avoid);
  return live[Math.floor(Math.random() * live.length)]!.url;
}

async function until(
  cond: () => boolean | Promise<boolean>,
  ms: number,
  what: string,
): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function postApp(to: string, id: string): Promise<number> {
  const live = nodes.filter((n) => n.alive);
  const n = live[Math.floor(Math.random() * live.length)]!;
  try {
    const r = await fetch(`${n.url}/v1/peers/${to}/notifications`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` },
      body: JSON.stringify({ id, body: `app ${id}` }),
    });
    await r.arrayBuffer();
    return r.status;
  } catch {
    return 0; // the node died under us: retried
  }
}

async function postTo(
  url: string,
  to: string,
  id: string,
): Promise<{ status: number; duplicate: boolean }> {
  const r = await fetch(`${url}/v1/peers/${to}/notifications`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` },
    body: JSON.stringify({ id, body: `dup ${id}` }),
  });
  const j = (await r.json()) as { duplicate?: boolean };
  return { status: r.status, duplicate: j.duplicate === true };
}

beforeAll(async () => {
  redis = await startRedis();
  for (let i = 0; i < 3; i++) await startNode();
}, 120_000); // three node processes starting on a loaded 2-core machine

const STEPS = [
  ['peers', all(peers, (p) => p.close())],
  ['raw clients', all(raws, (r) => r.ws.terminate())],
  ['serve processes', all(nodes, (n) => n.p.kill('SIGKILL'))],
  ['redis-server', () => redis?.stop()],
  ['temp dirs', () => dirs.forEach((d) => rmSync(d, { recursive: true, force: true }))],
] as const;
afterAll(() => teardown(STEPS), hookMs(STEPS.length));

describe('three serve processes on Redis, a node and Redis killed mid-run', () => {
  it('loses nothing acknowledged, delivers each once to the app, and moves peers', async () => {
    for (let i = 0; i < N_PEERS; i++) {
      const p = new ClusterPeer(otherNode);
      peers.push(p);
      await p.connect(nodes[i % 3]!.url);
    }
    // A watcher on node 1 and a peer on node 2 that will not reconnect when node 2 dies.
    const watcher = await RawClient.open(nodes[0]!.url);
    const sleeper = await RawClient.open(nodes[1]!.url);
    raws.push(watcher, sleeper);
    const w = await watcher.login();
    const s = await sleeper.login();
    await allow(sleeper, [w.peerId]);
    watcher.send({ type: 'watch', peers: [s.peerId] });
    await watcher.wait('presence', (m) => m.peer === s.peerId && m.online);
    // (A peer on another node is first shown offline, then as its node answers: drop that.)
    watcher.frames.length = 0;

    // Dedupe across nodes: the same id POSTed to node 1 and then to node 3, for a peer that is
    // offline (so the first copy is still stored), is stored once and delivered once.
    const off = await RawClient.open(nodes[0]!.url);
    raws.push(off);
    const offId = await off.login();
    off.ws.close();
    await off.waitClose();
    for (let k = 0; k < 20; k++) {
      const first = await postTo(nodes[0]!.url, offId.peerId, `dup${k}`);
      const again = await postTo(nodes[2]!.url, offId.peerId, `dup${k}`);
      expect([first.status, first.duplicate, again.status, again.duplicate]).toEqual([
        202,
        false,
        202,
        true,
      ]);
    }
    const back = await RawClient.open(nodes[2]!.url);
    raws.push(back);
    await back.login(offId);
    for (let k = 0; k < 20; k++) {
      const d = await back.wait('deliver');
      back.send({ type: 'ack', ids: [d.n.id] });
    }
    const t = Math.random();
    back.send({ type: 'ping', t });
    await back.wait('pong', (m) => m.t === t);
    expect(back.frames.filter((f) => f.type === 'deliver')).toEqual([]);

    // Peer-to-peer notifications between random pairs, queued with a window of 8 per sender.
    const expected = new Map<string, string>(); // "from id" → recipient
    for (let k = 0; k < N_PEER; k++) {
      const from = peers[k % N_PEERS]!;
      let to = peers[Math.floor(Math.random() * N_PEERS)]!;
      if (to === from) to = peers[(k + 1) % N_PEERS]!;
      const id = `p${k}`;
      expected.set(`${from.id.peerId} ${id}`, to.id.peerId);
      from.send({ id, to: to.id.peerId, body: `n ${k}` });
    }
    // The app POSTs, retrying (same id) until answered 202.
    const appAccepted = new Map<string, string>();
    const app = (async () => {
      for (let k = 0; k < N_APP; k++) {
        const to = peers[Math.floor(Math.random() * N_PEERS)]!.id.peerId;
        const id = `a${k}`;
        for (let tries = 0; ; tries++) {
          const status = await postApp(to, id);
          if (status === 202) break;
          if (tries > 200) throw new Error(`POST ${id}: ${status}`);
          await new Promise((r) => setTimeout(r, 100));
        }
        appAccepted.set(id, to);
      }
    })();
    const delivered = () => peers.reduce((s, p) => s + p.app.size, 0);

    // Fault 1: SIGKILL node 2 once a third is delivered.
    await until(() => delivered() > (N_PEER + N_APP) / 3, 60_000, 'first third delivered');
    nodes[1]!.alive = false;
    await nodes[1]!.p.kill('SIGKILL');
    // The sleeper's presence is cleared when its node's key expires (TTL 6 s) and a live node
    // reaps it: the watcher on node 1 sees it offline, and its route is gone from Redis.
    await watcher.wait('presence', (m) => m.peer === s.peerId && !m.online);
    expect(await redis.client().get(`np:route:${s.peerId}`)).toBeNull();

    // Fault 2: SIGKILL Redis and start it again on the same AOF, two thirds in.
    await until(
      () => delivered() > (2 * (N_PEER + N_APP)) / 3 + 20,
      60_000,
      'two thirds delivered',
    );
    await redis.restart({ kill: true, downMs: 300 });

    await app;
    await until(() => peers.every((p) => p.pending === 0), 60_000, 'every notification accepted');
    // Everything acknowledged reaches the application of its recipient.
    const got = new Set(peers.flatMap((p) => [...p.app].map((k) => `${p.id.peerId} ${k}`)));
    const missing = () => {
      const m: string[] = [];
      for (const p of peers)
        for (const id of p.accepted) {
          const to = expected.get(`${p.id.peerId} ${id}`)!;
          if (!got.has(`${to} ${p.id.peerId} ${id}`)) m.push(id);
        }
      for (const [id, to] of appAccepted) {
        const key = [...got].find((g) => g.startsWith(`${to} app:`) && g.endsWith(` ${id}`));
        if (!key) m.push(id);
      }
      return m;
    };
    await until(
      () => {
        got.clear();
        for (const p of peers) for (const k of p.app) got.add(`${p.id.peerId} ${k}`);
        return missing().length === 0;
      },
      60_000,
      'every accepted notification delivered',
    ).catch((e: Error) => {
      throw new Error(`${e.message}: missing ${missing().slice(0, 20).join(',')}`);
    });
    // Each accepted exactly once at the application; nothing it was not sent.
    expect(peers.reduce((s, p) => s + p.accepted.size, 0)).toBe(N_PEER);
    expect(delivered()).toBe(N_PEER + N_APP);
    // Wire duplicates (redeliveries of what was in flight when a node or Redis died) stay few;
    // the application saw none of them (above).
    const wireDup = peers.reduce((s, p) => s + [...p.wire.values()].filter((c) => c > 1).length, 0);
    expect(wireDup).toBeLessThan((N_PEER + N_APP) / 10);
    const storedTwice = peers.reduce((n, p) => n + p.storedTwice.length, 0);
    const reconnects = peers.reduce((n, p) => n + p.reconnects, 0);
    process.stderr.write(
      `cluster faults: ${N_PEER} peer + ${N_APP} app notifications, ${reconnects} reconnects, ` +
        `${wireDup} wire redeliveries (deduped by the receiver), ${storedTwice} retries stored again after their ack\n`,
    );
    // The killed node's peers are on the live nodes now.
    expect(peers.every((p) => p.ready && !p.url.includes(nodes[1]!.url))).toBe(true);
    expect(peers.filter((p) => p.reconnects > 0).length).toBeGreaterThanOrEqual(N_PEERS / 3);
  }, 300_000); // the waits above are bounded by events (60 s each, generous)
});
