/**
 * `natpush serve` hands short-lived TURN credentials to authenticated peers (issue 5, DESIGN.md):
 * serve composed with its relay on loopback, two `Peer`s log in, ask for credentials, and our
 * `TurnClient` allocates on serve's relay with exactly what they were given (UDP for one peer,
 * TCP for the other) and relays data between them. Plus expiry (the relay's clock is moved past
 * the TTL serve minted with → 401), the unauthenticated request, the relay-less server, and the
 * per-connection rate limit.
 */
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yargs, { type Argv } from 'yargs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { serveCommand, startServices, type ServeArgs } from '../../../src/cli/commands/serve.js';
import type { Endpoint } from '../../../src/net/index.js';
import { nodeUdpNetwork } from '../../../src/net/index.js';
import { Peer, type TurnCredentialsResult } from '../../../src/peer/peer.js';
import { TurnClient } from '../../../src/relay/client/client.js';
import { generateIdentity } from '../../../src/signaling/identity.js';
import { turnCredentialsReply } from '../../../src/signaling/protocol.js';
import { startSignalingServer } from '../../../src/signaling/server.js';
import { systemClock, type Clock } from '../../../src/util/clock.js';
import { silentLogger } from '../../../src/util/logger.js';
import { expectFatal, httpSession, post, RawClient, Tracker } from '../signaling/helpers.js';

const closers: (() => Promise<unknown> | void)[] = [];
const tracker = new Tracker();
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
  await tracker.cleanup();
});

/** The system clock, moved forward by `skewMs` (the relay's view of time). */
class SkewedClock implements Clock {
  skewMs = 0;
  now(): number {
    return systemClock.now() + this.skewMs;
  }
  setTimeout(fn: () => void, ms: number) {
    return systemClock.setTimeout(fn, ms);
  }
}

async function serve(
  extra: string[],
  relayClock?: Clock,
): Promise<{ url: string; metrics: () => Promise<string> }> {
  const dir = mkdtempSync(join(tmpdir(), 'natpush-turncreds-'));
  closers.push(() => rmSync(dir, { recursive: true, force: true }));
  const builder = serveCommand.builder as (y: Argv) => Argv<ServeArgs>;
  const args = builder(yargs()).parseSync([
    '--host=127.0.0.1',
    '--port=0',
    '--no-stun',
    '--relay-port=0',
    '--store=memory',
    `--data-dir=${dir}`,
    ...extra,
  ]);
  const { services } = await startServices(args, silentLogger, relayClock ? { relayClock } : {});
  closers.push(async () => {
    for (const s of [...services].reverse()) await s.close();
  });
  const url = services[0]!.endpoints[0]!;
  return { url, metrics: async () => (await fetch(`${url}/metrics`)).text() };
}

async function peer(url: string): Promise<Peer> {
  // allow: rendezvous frames reach a peer only if it allows the sender (issue 8, finding 5).
  // direct: false — this test drives TURN by hand; the Peer's own ladder stays out of the way.
  const p = await Peer.connect({
    server: url,
    identity: generateIdentity(),
    allow: 'anyone',
    direct: false,
  });
  closers.push(() => p.close());
  return p;
}

/** `turn:HOST:PORT?transport=T` → the endpoint, for the URL of transport `t`. */
function endpointOf(c: TurnCredentialsResult, t: 'udp' | 'tcp'): Endpoint {
  const url = c.urls.find((u) => u.endsWith(`?transport=${t}`));
  const m = /^turn:(.+):(\d+)\?transport=(udp|tcp)$/.exec(url ?? '');
  if (!m) throw new Error(`no ${t} URL in ${JSON.stringify(c.urls)}`);
  return { address: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

async function allocate(c: TurnCredentialsResult, transport: 'udp' | 'tcp'): Promise<TurnClient> {
  const t = await TurnClient.allocate({
    server: endpointOf(c, transport),
    transport,
    net: nodeUdpNetwork,
    username: c.username,
    password: c.password,
  });
  closers.push(() => t.close());
  return t;
}

function received(t: TurnClient, n: number): Promise<string[]> {
  const got: string[] = [];
  return new Promise((resolve) =>
    t.onData((d) => {
      got.push(Buffer.from(d).toString());
      if (got.length === n) resolve(got);
    }),
  );
}

function relayedPackets(metrics: string): number {
  return Number(/^natpush_turn_relayed_packets (\d+)$/m.exec(metrics)?.[1] ?? NaN);
}

describe('serve: TURN credentials for authenticated peers', () => {
  it('two peers get credentials bound to their ids and relay data through serve’s relay', async () => {
    // No address allow-list needed: relaying between two allocations of the same relay is not a
    // loop.
    const s = await serve(['--turn-credential-ttl=120']);
    const [alice, bob] = [await peer(s.url), await peer(s.url)];
    const t0 = Math.floor(Date.now() / 1000);
    const [ca, cb] = await Promise.all([alice.turnCredentials(), bob.turnCredentials()]);
    // The upper bound from after the answer: on a loaded machine the request may take > 1 s.
    const t1 = Math.ceil(Date.now() / 1000);
    expect(ca.ttl).toBe(120);
    expect(ca.username).toBe(`${ca.expires}:${alice.id}`);
    expect(cb.username).toBe(`${cb.expires}:${bob.id}`);
    expect(ca.expires - t0).toBeGreaterThanOrEqual(119);
    expect(ca.expires - t1).toBeLessThanOrEqual(121);
    // The default host is the address the peer reached serve at; UDP first, then TCP.
    expect(ca.urls).toHaveLength(2);
    expect(ca.urls[0]).toMatch(/^turn:127\.0\.0\.1:\d+\?transport=udp$/);
    expect(ca.urls[1]).toMatch(/^turn:127\.0\.0\.1:\d+\?transport=tcp$/);

    const ta = await allocate(ca, 'udp');
    const tb = await allocate(cb, 'tcp');
    // serve's relay relays only between peers in rendezvous (issue 8, finding 3): they exchange
    // candidates through the server first, as the punch ladder does.
    const signalled = once(bob, 'signal');
    expect(alice.sendSignal({ type: 'candidates', to: bob.id, rid: 'r1', candidates: [] })).toBe(
      true,
    );
    await signalled;
    await ta.bindChannel(tb.relayedAddress);
    await tb.bindChannel(ta.relayedAddress);
    const before = relayedPackets(await s.metrics());
    const atB = received(tb, 3);
    const atA = received(ta, 3);
    for (const i of [1, 2, 3]) {
      ta.send(tb.relayedAddress, Buffer.from(`a→b ${i}`));
      tb.send(ta.relayedAddress, Buffer.from(`b→a ${i}`));
    }
    expect((await atB).sort()).toEqual(['a→b 1', 'a→b 2', 'a→b 3']);
    expect((await atA).sort()).toEqual(['b→a 1', 'b→a 2', 'b→a 3']);
    // The bytes crossed serve's relay: its counters (in serve's /metrics) moved by >= 6 packets.
    expect(relayedPackets(await s.metrics()) - before).toBeGreaterThanOrEqual(6);
    expect(await s.metrics()).toMatch(/^natpush_turn_credentials_issued_total 2$/m);
  });

  it('credentials expire: past the TTL serve minted with, the relay answers 401', async () => {
    const relayClock = new SkewedClock();
    const s = await serve(['--turn-credential-ttl=5'], relayClock);
    const alice = await peer(s.url);
    const c = await alice.turnCredentials();
    expect(c.ttl).toBe(5);
    const ok = await allocate(c, 'udp');
    expect(ok.relayedAddress.port).toBeGreaterThan(0);
    relayClock.skewMs = 7_000; // the relay lives 7 s ahead: the username's expiry has passed
    // The allocation cannot outlive its credentials: RFC 8656 §5 binds it to its username, and
    // the relay checks the expiry on every request, Refresh included.
    await expect(ok.refresh()).rejects.toMatchObject({ status: 401 });
    for (const transport of ['udp', 'tcp'] as const)
      await expect(allocate(c, transport)).rejects.toMatchObject({ status: 401 });
    // With the clocks agreeing again, the peer simply asks again and gets working credentials.
    relayClock.skewMs = 0;
    expect(
      (await allocate(await alice.turnCredentials(), 'tcp')).relayedAddress.port,
    ).toBeGreaterThan(0);
  });

  it('before the challenge login the request gets the fatal NOT_AUTHENTICATED', async () => {
    const s = await serve([]);
    const c = await RawClient.open(s.url);
    closers.push(() => c.ws.terminate());
    c.send({ type: 'turn-credentials', ref: 'r1' });
    expect((await expectFatal(c)).code).toBe('NATPUSH_ERR_NOT_AUTHENTICATED');
    expect(c.frames.some((m) => m.type === 'turn-credentials')).toBe(false);
    // After hello but before auth: the same.
    const c2 = await RawClient.open(s.url);
    closers.push(() => c2.ws.terminate());
    const id = generateIdentity();
    c2.send({ type: 'hello', v: 1, peer: id.peerId, publicKey: id.publicKey });
    await c2.wait('challenge');
    c2.send({ type: 'turn-credentials', ref: 'r2' });
    expect((await expectFatal(c2)).code).toBe('NATPUSH_ERR_NOT_AUTHENTICATED');
  });

  it('a server without a relay answers the typed RELAY_UNAVAILABLE, and the peer stays connected', async () => {
    const s = await serve(['--no-relay']);
    const alice = await peer(s.url);
    await expect(alice.turnCredentials()).rejects.toMatchObject({
      name: 'SignalingError',
      code: 'NATPUSH_ERR_RELAY_UNAVAILABLE',
    });
    expect(alice.connected).toBe(true);
    await expect(alice.turnCredentials()).rejects.toMatchObject({
      code: 'NATPUSH_ERR_RELAY_UNAVAILABLE',
    });
    const ac = new AbortController();
    ac.abort();
    await expect(alice.turnCredentials({ signal: ac.signal })).rejects.toMatchObject({
      code: 'NATPUSH_ERR_ABORTED',
    });
  });

  it('over HTTP (SSE / long-poll peers): POST /v1/turn-credentials with a session token', async () => {
    const s = await serve([]);
    const id = generateIdentity();
    const token = await httpSession(s, id);
    const r = await post(`${s.url}/v1/turn-credentials`, {}, { authorization: `Bearer ${token}` });
    expect(r.status).toBe(200);
    const c = turnCredentialsReply.parse({ type: 'turn-credentials', ref: 'http', ...r.json });
    expect(c.username).toBe(`${c.expires}:${id.peerId}`);
    expect((await allocate(c, 'udp')).relayedAddress.port).toBeGreaterThan(0);
    const anon = await post(`${s.url}/v1/turn-credentials`, {});
    expect(anon.status).toBe(401);
    expect(anon.json.error.code).toBe('NATPUSH_ERR_NOT_AUTHENTICATED');
    const none = await serve(['--no-relay']);
    const r2 = await post(
      `${none.url}/v1/turn-credentials`,
      {},
      { authorization: `Bearer ${await httpSession(none, id)}` },
    );
    expect(r2.status).toBe(503);
    expect(r2.json.error.code).toBe('NATPUSH_ERR_RELAY_UNAVAILABLE');
  });

  it('a request made while disconnected is sent after the reconnect; timeouts are typed', async () => {
    const turn = { secret: 'reconnect-secret', udpPort: 3479 };
    const s1 = await startSignalingServer({ turn });
    const port = s1.port;
    const alice = await Peer.connect({
      server: s1.url,
      identity: generateIdentity(),
      backoff: { initialMs: 20, maxMs: 100, factor: 2 },
    });
    closers.push(() => alice.close());
    await s1.close();
    await vi.waitFor(() => expect(alice.connected).toBe(false), { timeout: 10_000 });
    const pending = alice.turnCredentials({ timeoutMs: 20_000 });
    const s2 = await startSignalingServer({ turn, port });
    tracker.servers.push(s2);
    const c = await pending;
    expect(c.username).toBe(`${c.expires}:${alice.id}`);
    expect(c.urls).toEqual(['turn:127.0.0.1:3479?transport=udp']);
    await s2.close();
    await vi.waitFor(() => expect(alice.connected).toBe(false), { timeout: 10_000 });
    await expect(alice.turnCredentials({ timeoutMs: 50 })).rejects.toMatchObject({
      code: 'NATPUSH_ERR_REQUEST_TIMEOUT',
    });
  });

  it('requests count against the connection’s rate limit like every frame', async () => {
    const s = await tracker.server({
      turn: { secret: 'x', udpPort: 3479 },
      limits: { ratePerSecond: 5, rateBurst: 10 },
    });
    const c = await tracker.raw(s);
    await c.login();
    for (let i = 0; i < 30; i++) c.send({ type: 'turn-credentials', ref: `r${i}` });
    expect((await expectFatal(c)).code).toBe('NATPUSH_ERR_RATE_LIMITED');
    const answered = c.frames.filter((m) => m.type === 'turn-credentials').length;
    expect(answered).toBeGreaterThan(0);
    expect(answered).toBeLessThan(30);
  });
});
