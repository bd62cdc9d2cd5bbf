import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Peer, type ReceivedNotification } from '../../../src/peer/peer.js';
import { generateIdentity } from '../../../src/signaling/identity.js';
import { SqliteStore } from '../../../src/signaling/store/sqlite-store.js';
import type { SignalingServer } from '../../../src/signaling/server.js';
import { Tracker } from './helpers.js';

const t = new Tracker();
const dirs: string[] = [];
afterEach(async () => {
  await t.cleanup();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const fastBackoff = { initialMs: 20, maxMs: 200, factor: 2 };

async function peer(
  s: SignalingServer | string,
  o: Partial<Parameters<typeof Peer.connect>[0]> = {},
): Promise<Peer> {
  const p = await Peer.connect({
    server: typeof s === 'string' ? s : s.url,
    identity: generateIdentity(),
    backoff: fastBackoff,
    // These tests are about delivery, not privacy: every peer may see the others' presence
    // (presence-enumeration.test.ts covers the default contact list).
    allow: 'anyone',
    direct: false,
    ...o,
  });
  t.closers.push(() => p.close());
  return p;
}

async function take(
  p: Peer,
  n: number,
  o: { signal?: AbortSignal } = {},
): Promise<ReceivedNotification[]> {
  const out: ReceivedNotification[] = [];
  if (n === 0) return out;
  for await (const m of p.notifications(o)) {
    out.push(m);
    if (out.length >= n) break;
  }
  return out;
}

describe('Peer library', () => {
  it('delivers every notification exactly once, in order, server-routed with end-to-end acks', async () => {
    const s = await t.server();
    const a = await peer(s);
    const b = await peer(s);
    const got = take(b, 300);
    const results = await Promise.all(
      Array.from({ length: 300 }, (_, i) => a.notify(b.id, `m${i}`, { topic: 't' })),
    );
    expect((await got).map((n) => n.body)).toEqual(Array.from({ length: 300 }, (_, i) => `m${i}`));
    expect(
      results.every(
        (r) => r.path === 'server-routed' && r.status === 'delivered' && r.via === 'websocket',
      ),
    ).toBe(true);
  });

  it('stores for an offline peer (path mailbox) and delivers in order on connect; emits path and presence', async () => {
    const s = await t.server();
    const bid = generateIdentity();
    const b0 = await peer(s, { identity: bid });
    await b0.close();
    const a = await peer(s);
    const presence: boolean[] = [];
    a.on('presence', (e) => presence.push(e.online));
    a.watch([bid.peerId]);
    const paths: string[] = [];
    a.on('path', (e) => paths.push(e.path));
    for (let i = 0; i < 5; i++) expect((await a.notify(bid.peerId, `x${i}`)).path).toBe('mailbox');
    const b = await peer(s, { identity: bid });
    const stored = await take(b, 5);
    expect(stored.map((n) => n.body)).toEqual(['x0', 'x1', 'x2', 'x3', 'x4']);
    // the receiver sees how they came: these waited in the mailbox while it was away
    expect(stored.every((n) => n.path === 'mailbox')).toBe(true);
    const next = take(b, 1);
    expect((await a.notify(b.id, 'now')).path).toBe('server-routed');
    expect((await next)[0]).toMatchObject({ body: 'now', path: 'server-routed' });
    expect(paths).toEqual(['mailbox', 'server-routed']);
    await expect.poll(() => presence).toEqual([false, true]);
  });

  it('dedupes redeliveries: the app sees each id once even when the server retries', async () => {
    const s = await t.server({ timing: { retryAfterMs: 50 } });
    const a = await peer(s);
    const b = await peer(s);
    for (let i = 0; i < 10; i++) await a.notify(b.id, `d${i}`, { deliveryTimeoutMs: 0 });
    // a retry round (50 ms after each send) before the app reads anything: the app must then
    // see redelivered copies once. Waited for, not assumed to come within a fixed pause.
    await expect
      .poll(() => s.context.metrics.retries.get({ transport: 'websocket' }))
      .toBeGreaterThan(0);
    const got = await take(b, 10);
    expect(got.map((n) => n.body)).toEqual(Array.from({ length: 10 }, (_, i) => `d${i}`));
    const extra = await take(b, 1, { signal: AbortSignal.timeout(200) });
    expect(extra).toEqual([]);
  });

  it('reconnects after a server restart on the same data and resends unaccepted notifies', async () => {
    const d = mkdtempSync(join(tmpdir(), 'np-peer-'));
    dirs.push(d);
    const file = join(d, 'm.sqlite');
    const s1 = await t.server({ store: new SqliteStore(file) });
    const port = s1.port;
    const a = await peer(s1);
    const b = await peer(s1);
    const bef = take(b, 1);
    await a.notify(b.id, 'before');
    await bef;
    const disconnected = new Promise((r) => b.once('disconnected', r));
    await s1.close();
    t.servers.splice(t.servers.indexOf(s1), 1);
    await disconnected;
    const during = a.notify(b.id, 'during');
    const got = take(b, 1);
    await t.server({ store: new SqliteStore(file), port });
    expect(['server-routed', 'mailbox']).toContain((await during).path);
    expect((await got).map((n) => n.body)).toEqual(['during']);
  });

  it('AbortSignal: connect, notify and notifications() honour it', async () => {
    const s = await t.server();
    const b = await peer(s);
    const a = await peer(s);
    const ac = new AbortController();
    ac.abort();
    await expect(a.notify(b.id, 'x', { signal: ac.signal })).rejects.toMatchObject({
      code: 'NATPUSH_ERR_ABORTED',
    });
    await expect(take(b, 1, { signal: AbortSignal.timeout(50) })).resolves.toEqual([]);
    await expect(
      Peer.connect({
        server: 'http://127.0.0.1:9',
        identity: generateIdentity(),
        signal: AbortSignal.timeout(100),
        backoff: fastBackoff,
      }),
    ).rejects.toMatchObject({ code: 'NATPUSH_ERR_ABORTED' });
    expect(() => a.notify('nope', 'x')).toThrow(TypeError);
  });

  it('connectTimeoutMs: an unreachable server rejects with UNREACHABLE and the last reason', async () => {
    const retries: number[] = [];
    const p = Peer.open({
      server: 'http://127.0.0.1:9',
      identity: generateIdentity(),
      backoff: fastBackoff,
      connectTimeoutMs: 300,
    });
    p.on('reconnecting', (r) => retries.push(r.attempt));
    const err = await p.ready().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'NATPUSH_ERR_UNREACHABLE' });
    expect(String((err as Error).message)).toMatch(
      /cannot reach http:\/\/127\.0\.0\.1:9 within 300 ms \(last attempt: .*ECONNREFUSED/,
    );
    expect(retries[0]).toBe(1);
    expect(p.connected).toBe(false);
    // closed after the failure: nothing keeps retrying
    const n = retries.length;
    await new Promise((r) => setTimeout(r, 250));
    expect(retries.length).toBe(n);
  });

  it('close() while connecting settles connect() (no hang)', async () => {
    const p = Peer.open({
      server: 'http://127.0.0.1:9',
      identity: generateIdentity(),
      backoff: fastBackoff,
    });
    const r = p.ready();
    await p.close();
    await expect(r).rejects.toMatchObject({ code: 'NATPUSH_ERR_CONNECTION_CLOSED' });
  });

  it('notify timeoutMs: rejects with REQUEST_TIMEOUT when the server never accepts', async () => {
    const s = await t.server();
    const a = await peer(s);
    await s.close();
    t.servers.splice(t.servers.indexOf(s), 1);
    await expect(
      a.notify(generateIdentity().peerId, 'x', { timeoutMs: 200 }),
    ).rejects.toMatchObject({
      code: 'NATPUSH_ERR_REQUEST_TIMEOUT',
    });
  });

  it('end to end: the server only ever holds ciphertext of a peer notification', async () => {
    const s = await t.server();
    const bid = generateIdentity();
    await (await peer(s, { identity: bid })).close(); // registered, now offline
    const a = await peer(s);
    expect((await a.notify(bid.peerId, 'top secret', { topic: 'hidden-topic' })).path).toBe(
      'mailbox',
    );
    const [stored] = s.context.mailbox.store.pending(bid.peerId, 0, 10, Date.now());
    expect(stored!.body).toMatch(/^np1\.[A-Za-z0-9_-]+$/);
    expect(JSON.stringify(stored)).not.toContain('top secret');
    expect(JSON.stringify(stored)).not.toContain('hidden-topic');
    const b = await peer(s, { identity: bid });
    expect((await take(b, 1))[0]).toMatchObject({
      from: a.id,
      topic: 'hidden-topic',
      body: 'top secret',
      path: 'mailbox',
    });
  });

  it('drops and counts peer notifications that are unsealed, forged or id-swapped', async () => {
    const s = await t.server();
    const b = await peer(s);
    const a = await peer(s);
    const mallory = await t.raw(s);
    const mid = await mallory.login();
    // 1. a plain (unsealed) body from a peer
    mallory.send({ type: 'notify', ref: 'r1', id: 'plain', to: b.id, body: 'hi, trust me' });
    await mallory.wait('accepted', (m) => m.ref === 'r1');
    // 2. a body sealed by a, replayed by mallory under her own id (the server says from = mallory)
    const { sealBody } = await import('../../../src/peer/sealed-body.js');
    const sealedByA = sealBody(a.identity, b.identity.publicKey, { id: 'stolen', body: 'from a' });
    mallory.send({ type: 'notify', ref: 'r2', id: 'stolen', to: b.id, body: sealedByA });
    await mallory.wait('accepted', (m) => m.ref === 'r2');
    // 3. mallory's own sealed body, but routed under another id than the one sealed inside
    const swapped = sealBody(mid, b.identity.publicKey, { id: 'inner', body: 'swap' });
    mallory.send({ type: 'notify', ref: 'r3', id: 'outer', to: b.id, body: swapped });
    await mallory.wait('accepted', (m) => m.ref === 'r3');
    // an honest one still arrives, and is the only one
    const got = take(b, 1);
    await a.notify(b.id, 'honest');
    expect((await got).map((n) => n.body)).toEqual(['honest']);
    await expect
      .poll(() => b.stats.dropped)
      .toEqual({
        unsealed: 1,
        'forged-sender': 1,
        'swapped-id': 1,
      });
    expect(await take(b, 1, { signal: AbortSignal.timeout(200) })).toEqual([]);
  });

  it('a notify to an unknown peer rejects with UNKNOWN_PEER', async () => {
    const s = await t.server();
    const a = await peer(s);
    await expect(a.notify(generateIdentity().peerId, 'x')).rejects.toMatchObject({
      code: 'NATPUSH_ERR_UNKNOWN_PEER',
    });
  });

  it('admission denied is terminal: connect rejects instead of retrying forever', async () => {
    const s = await t.server({ peerTokens: ['k'] });
    await expect(
      Peer.connect({ server: s.url, identity: generateIdentity(), backoff: fastBackoff }),
    ).rejects.toMatchObject({
      code: 'NATPUSH_ERR_ADMISSION_DENIED',
    });
    const ok = await peer(s, { peerToken: 'k' });
    expect(ok.connected).toBe(true);
  });
});
