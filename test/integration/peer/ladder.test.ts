/**
 * The delivery ladder end to end on loopback against a real `natpush serve` (signaling + STUN +
 * TURN in one process): two Peers notify each other sealed through the server at once, their
 * end-to-end session moves up to a direct UDP path, 100 notifications each way arrive exactly
 * once, and killing the direct path mid-stream falls back without loss or duplicates.
 */
import { readdirSync, readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Peer, type NotifyResult, type ReceivedNotification } from '../../../src/peer/peer.js';
import type { Welcome } from '../../../src/signaling/client.js';
import { generateIdentity, type Identity } from '../../../src/signaling/identity.js';
import { serve } from '../signaling/natpush-process.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'np-ladder-'));
  cleanups.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

const fastBackoff = { initialMs: 20, maxMs: 200, factor: 2 };

async function pair(url: string, o: { direct?: boolean } = {}) {
  const ia = generateIdentity();
  const ib = generateIdentity();
  const mk = async (me: Identity, other: Identity) => {
    const p = await Peer.connect({
      server: url,
      identity: me,
      backoff: fastBackoff,
      allow: [other.peerId],
      interfaces: () => ['127.0.0.1'],
      ...(o.direct !== undefined ? { direct: o.direct } : {}),
    });
    cleanups.push(() => p.close());
    return p;
  };
  return { a: await mk(ia, ib), b: await mk(ib, ia) };
}

/** Collect everything `p` receives. */
function collect(p: Peer): ReceivedNotification[] {
  const got: ReceivedNotification[] = [];
  const stop = new AbortController();
  cleanups.push(() => stop.abort());
  void (async () => {
    for await (const n of p.notifications({ signal: stop.signal })) got.push(n);
  })();
  return got;
}

async function until(cond: () => boolean, what: string, ms = 25_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function bodiesFrom(got: ReceivedNotification[], from: string): string[] {
  return got.filter((n) => n.from === from).map((n) => n.body);
}

// Each test starts serve (seconds under load) before its Peers: 10-12 s each in a run at load 18
// for the two that had the tier's 30 s default.
describe('the delivery ladder (loopback, real serve)', { timeout: 90_000 }, () => {
  it('server-routed at once, then direct; 100 each way exactly once; a killed direct path loses nothing', async () => {
    const dir = tmp();
    const s = await serve(join(dir, 'data'));
    cleanups.push(() => s.p.kill());
    const { a, b } = await pair(s.url);
    const gotA = collect(a);
    const gotB = collect(b);
    const paths: string[] = [];
    a.on('path', (e) => paths.push(`a:${e.path}`));
    b.on('path', (e) => paths.push(`b:${e.path}`));

    // first contact: sealed through the server, no waiting for a punch
    const first = await Promise.all([
      a.notify(b.id, 'hello b', { topic: 'greet' }),
      b.notify(a.id, 'hello a', { topic: 'greet' }),
    ]);
    expect(first.map((r) => r.path)).toEqual(['server-routed', 'server-routed']);
    await until(() => gotA.length === 1 && gotB.length === 1, 'first notifications');
    expect(gotB[0]).toMatchObject({ from: a.id, topic: 'greet', body: 'hello b' });

    // the session moves up to a direct path on loopback: `sessionPath` says direct once the
    // session carries there (path up and keys usable on both sides), so the burst below goes
    // over it; before, it said direct as soon as the path was adopted, and a burst sent in the
    // moment before the responder's keys were confirmed went wholly through the server
    await until(
      () => a.sessionPath(b.id) === 'direct' && b.sessionPath(a.id) === 'direct',
      `direct path (a: ${a.sessionPath(b.id)}, last punch error: ${a.lastPunchError(b.id) ?? b.lastPunchError(a.id)})`,
    );

    const N = 100;
    const send = (from: Peer, to: Peer, tag: string, n: number) =>
      Promise.all(Array.from({ length: n }, (_, i) => from.notify(to.id, `${tag}${i}`)));
    const [ra, rb] = await Promise.all([send(a, b, 'a', N), send(b, a, 'b', N)]);
    expect(ra.every((r) => r.status === 'delivered')).toBe(true);
    expect(ra.filter((r) => r.path === 'direct').length).toBeGreaterThan(N / 2);
    expect(rb.filter((r) => r.path === 'direct').length).toBeGreaterThan(N / 2);
    await until(() => gotB.length === N + 1 && gotA.length === N + 1, '100 each way');
    expect(new Set(bodiesFrom(gotB, a.id))).toEqual(
      new Set(['hello b', ...Array.from({ length: N }, (_, i) => `a${i}`)]),
    );
    expect(new Set(bodiesFrom(gotA, b.id))).toEqual(
      new Set(['hello a', ...Array.from({ length: N }, (_, i) => `b${i}`)]),
    );
    expect(gotB.filter((n) => n.path === 'direct').length).toBeGreaterThan(N / 2);

    // kill the direct path in the middle of a stream: nothing lost, nothing twice
    const sending: [Promise<NotifyResult[]>, Promise<NotifyResult[]>] = [
      send(a, b, 'x', N),
      send(b, a, 'y', N),
    ];
    a.dropPath(b.id, 'killed by the test');
    b.dropPath(a.id, 'killed by the test');
    const [rx, ry] = await Promise.all(sending);
    expect([...rx, ...ry].every((r) => r.status === 'delivered' || r.status === 'stored')).toBe(
      true,
    );
    await until(
      () => gotB.length === 2 * N + 1 && gotA.length === 2 * N + 1,
      `200 each way (a got ${gotA.length}, b got ${gotB.length})`,
    );
    const xs = bodiesFrom(gotB, a.id).filter((x) => x.startsWith('x'));
    const ys = bodiesFrom(gotA, b.id).filter((x) => x.startsWith('y'));
    expect(xs.sort()).toEqual(Array.from({ length: N }, (_, i) => `x${i}`).sort());
    expect(ys.sort()).toEqual(Array.from({ length: N }, (_, i) => `y${i}`).sort());
    // nothing delivered twice, overall
    const keys = [...gotA, ...gotB].map((n) => `${n.from}/${n.id}`);
    expect(new Set(keys).size).toBe(keys.length);
    expect(paths).toContain('a:server-routed');
    expect(paths).toContain('a:direct');
    // Copies dropped by the receivers' dedupe (sent twice across the rungs): a figure, no bound.
    const dup = (a.stats.dropped.duplicate ?? 0) + (b.stats.dropped.duplicate ?? 0);
    process.stderr.write(
      `ladder: ${dup} duplicate copies dropped of ${2 * (2 * N + 1)} notifications\n`,
    );
  }, 90_000);

  it("the welcome names serve's relay with credentials: the punch layer needs no request first", async () => {
    const dir = tmp();
    const s = await serve(join(dir, 'data'));
    cleanups.push(() => s.p.kill());
    const p = Peer.open({ server: s.url, identity: generateIdentity(), backoff: fastBackoff });
    cleanups.push(() => p.close());
    const welcomed = new Promise<Welcome>((resolve) => p.once('connected', resolve));
    await p.ready();
    const w = await welcomed;
    expect(w.turn?.username).toBe(`${w.turn?.expires}:${p.id}`);
    expect(w.turn?.urls).toEqual([
      expect.stringMatching(/^turn:127\.0\.0\.1:\d+\?transport=udp$/),
      expect.stringMatching(/^turn:127\.0\.0\.1:\d+\?transport=tcp$/),
    ]);
    // The same relay as a `turn-credentials` request names.
    expect((await p.turnCredentials()).urls).toEqual(w.turn?.urls);
  });

  it('direct: false keeps everything on the server rungs; the server stores only ciphertext', async () => {
    const dir = tmp();
    const s = await serve(join(dir, 'data'));
    cleanups.push(() => s.p.kill());
    const { a, b } = await pair(s.url, { direct: false });
    await b.close(); // offline: the next one waits in the mailbox
    const secret = `the-plaintext-${Math.random()}`;
    const r = await a.notify(b.id, secret, { topic: 'private-topic' });
    expect(r.path).toBe('mailbox');
    expect(a.sessionPath(b.id)).toBeUndefined();
    for (const f of readdirSync(join(dir, 'data'))) {
      const bytes = readFileSync(join(dir, 'data', f)).toString('latin1');
      expect(bytes, f).not.toContain(secret);
      expect(bytes, f).not.toContain('private-topic');
    }
  });
});
