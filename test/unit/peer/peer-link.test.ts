/**
 * The path ladder of one PeerLink pair on the in-memory network (MemoryNetwork with RFC 4787
 * NATs, ManualClock, no sleeps): real SecureSession + ReliableChannel (e-session), real
 * PunchConnectors with serve's STUN/TURN (f-punch's PunchWorld), the server rung an in-memory
 * `p2p` hop. The session starts on the server, moves up to direct (or relay when the NATs allow
 * nothing better), falls back when the path dies and climbs again after the re-punch.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { PeerLink, type LinkPath } from '../../../src/peer/peer-link.js';
import type { Identity } from '../../../src/signaling/identity.js';
import { silentLogger } from '../../../src/util/logger.js';
import { PunchWorld, SIGNAL_MS, type NatKind } from '../punch/world.js';
import { attachToConnector } from './link-pair.js';
import { orderedPeers } from './ordered-peers.js';

let world: PunchWorld | undefined;
const links: PeerLink[] = [];
afterEach(async () => {
  for (const l of links.splice(0)) l.close();
  await world?.close();
  world = undefined;
});

async function setup(ka: NatKind, kb: NatKind) {
  const w = (world = await PunchWorld.create());
  const { ia, ib, sa, sb } = await orderedPeers(w, ka, kb);
  const got = { a: [] as string[], b: [] as string[] };
  const paths = { a: [] as string[], b: [] as string[] };
  const punches: string[] = [];
  let serverUp = true;
  const pausedFlag = { a: false, b: false };
  const mk = (me: Identity, other: Identity, side: typeof sa, name: 'a' | 'b'): PeerLink => {
    const l: PeerLink = new PeerLink({
      identity: me,
      remote: other.peerId,
      clock: w.clock,
      logger: silentLogger,
      remoteKey: () => Promise.resolve(other.publicKey),
      sendP2p: (d) => {
        if (!serverUp) return false;
        const copy = new Uint8Array(d);
        w.clock.setTimeout(() => (name === 'a' ? lb : la).handleServerDatagram(copy), SIGNAL_MS);
        return true;
      },
      connector: () => Promise.resolve(side.connector),
      onNotification: (n, path) => got[name].push(`${n.body}@${path}`),
      onPath: (e) => paths[name].push(e.path),
      onPunch: (e) => punches.push(e.ok ? `${name}:${e.kind}` : `${name}:failed`),
      paused: () => pausedFlag[name],
    });
    attachToConnector(l, side, false);
    links.push(l);
    return l;
  };
  const la = mk(ia, ib, sa, 'a');
  const lb = mk(ib, ia, sb, 'b');
  return {
    w,
    la,
    lb,
    got,
    paths,
    punches,
    cutServer: () => (serverUp = false),
    pausedFlag,
  };
}

async function runUntil(w: PunchWorld, cond: () => boolean, maxMs = 60_000): Promise<void> {
  for (let t = 0; t < maxMs && !cond(); t += 5) await w.clock.advanceAsync(5);
  expect(cond()).toBe(true);
}

async function sendAll(w: PunchWorld, l: PeerLink, tag: string, n: number): Promise<void> {
  const all = Promise.all(
    Array.from({ length: n }, (_, i) => l.notify({ id: `${tag}${i}`, body: `${tag}${i}` }, 30_000)),
  );
  await w.run(all, 60_000);
}

const bodies = (xs: string[]) => xs.map((x) => x.split('@')[0]);

describe('PeerLink: the ladder on the in-memory network', () => {
  it.each<[NatKind, NatKind, LinkPath]>([
    ['full-cone', 'port-restricted', 'direct'],
    ['port-restricted', 'port-restricted', 'direct'],
    ['symmetric', 'symmetric', 'relay'],
  ])('%s × %s: server first, then %s; 100 each way exactly once', async (ka, kb, final) => {
    const { w, la, lb, got, paths } = await setup(ka, kb);
    await w.run(la.start());
    // the session works on the server rung before any punch
    await runUntil(w, () => la.session.established);
    expect(la.path).toBe('server');
    await runUntil(w, () => la.path === final && lb.path === final);
    expect(paths.a).toContain(final);
    await Promise.all([sendAll(w, la, 'a', 100), sendAll(w, lb, 'b', 100)]);
    await runUntil(w, () => got.b.length === 100 && got.a.length === 100);
    expect(bodies(got.b)).toEqual(Array.from({ length: 100 }, (_, i) => `a${i}`));
    expect(bodies(got.a)).toEqual(Array.from({ length: 100 }, (_, i) => `b${i}`));
    expect(got.b.every((x) => x.endsWith(`@${final}`))).toBe(true);
  });

  it('a dead direct path falls back to the server without loss, then the re-punch climbs back', async () => {
    const { w, la, lb, got, paths } = await setup('full-cone', 'full-cone');
    await w.run(la.start());
    await runUntil(w, () => la.path === 'direct' && lb.path === 'direct');
    const sending = Promise.all([
      Promise.all(
        Array.from({ length: 50 }, (_, i) => la.notify({ id: `x${i}`, body: `x${i}` }, 30_000)),
      ),
    ]);
    la.dropPath('killed by the test');
    lb.dropPath('killed by the test');
    expect(la.path).toBe('server');
    await w.run(sending, 60_000);
    await runUntil(w, () => got.b.length === 50);
    expect(bodies(got.b)).toEqual(Array.from({ length: 50 }, (_, i) => `x${i}`));
    expect(paths.a).toContain('server');
    // the lower id re-punches after its backoff (5 s) and the link is direct again
    await runUntil(w, () => la.path === 'direct' && lb.path === 'direct', 90_000);
    expect(paths.a.filter((p) => p === 'direct').length).toBeGreaterThanOrEqual(2);
  });

  it('udp-blocked: the punch fails with a reason, the session stays on the server and works', async () => {
    const { w, la, lb, got, punches } = await setup('udp-blocked', 'full-cone');
    await w.run(la.start());
    await runUntil(w, () => la.session.established && lb.session.established);
    await runUntil(w, () => punches.includes('a:failed'), 90_000);
    expect(la.lastPunchError).toMatch(/\w/);
    expect(la.path).toBe('server');
    await sendAll(w, la, 'u', 20);
    await runUntil(w, () => got.b.length === 20);
    expect(got.b.every((x) => x.endsWith('@server'))).toBe(true);
  });

  it('an application that does not keep up pauses the link: nothing acked, nothing lost', async () => {
    const { w, la, lb, got, pausedFlag } = await setup('full-cone', 'full-cone');
    await w.run(la.start());
    await runUntil(w, () => la.path === 'direct' && lb.path === 'direct');
    pausedFlag.b = true;
    const r = la.notify({ id: 'p1', body: 'p1' }, 2_000).then(
      () => 'acked',
      (e: unknown) => (e as { code?: string }).code,
    );
    expect(await w.run(r)).toBe('NATPUSH_ERR_SESSION_SEND_TIMEOUT'); // the Peer sends it on the server rung now
    expect(got.b).toEqual([]);
    expect(lb.droppedWhilePaused).toBeGreaterThan(0);
    pausedFlag.b = false;
    await sendAll(w, la, 'q', 3);
    await runUntil(w, () => got.b.length >= 3);
    expect(bodies(got.b).filter((x) => x!.startsWith('q'))).toEqual(['q0', 'q1', 'q2']);
  });

  it('ping measures the round trip on the current rung', async () => {
    const { w, la, lb } = await setup('full-cone', 'full-cone');
    await w.run(la.start());
    const first = await w.run(la.ping(10_000));
    expect(first).toBeGreaterThanOrEqual(2 * SIGNAL_MS); // over the server hop
    await runUntil(w, () => la.path === 'direct' && lb.path === 'direct');
    const direct = await w.run(la.ping(10_000));
    expect(direct).toBeLessThan(first);
  });
});
