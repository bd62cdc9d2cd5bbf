/**
 * The two sides of a link use the same path (AGREEMENT in src/peer/peer-link-types.ts). When they
 * did not — one side took a new punched path while the other kept its own, or one side dropped a
 * path the other still sent on — each sent where the other no longer listened, and nothing said
 * so until consent failed (RFC 7675, 30 s): CI saw a relayed session sit ~50 s on two different
 * dead paths after its relay died (test/integration/cluster/relay-move.test.ts).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { PeerLink, type LinkPath } from '../../../src/peer/peer-link.js';
import { STALL_MS } from '../../../src/peer/peer-link-types.js';
import type { PunchedPath } from '../../../src/punch/index.js';
import { generateIdentity, type Identity } from '../../../src/signaling/identity.js';
import { silentLogger } from '../../../src/util/logger.js';
import { PunchWorld, SIGNAL_MS as S, type PeerSide } from '../punch/world.js';

let world: PunchWorld | undefined;
const links: PeerLink[] = [];
afterEach(async () => {
  for (const l of links.splice(0)) l.close();
  await world?.close();
  world = undefined;
});

/** Far below consent's 30 s. */
const BOUND_MS = 12_000;

interface Pair {
  w: PunchWorld;
  la: PeerLink;
  lb: PeerLink;
  sideB: PeerSide;
  a: Identity;
  got: Map<string, string[]>;
  downs: Map<PeerLink, string[]>;
}

async function directPair(): Promise<Pair> {
  const w = (world = await PunchWorld.create());
  const [a, b] = [generateIdentity(), generateIdentity()];
  const byId = new Map<string, PeerLink>();
  const got = new Map<string, string[]>();
  const downs = new Map<PeerLink, string[]>();
  const mk = (me: Identity, other: Identity, side: PeerSide): PeerLink => {
    const l: PeerLink = new PeerLink({
      identity: me,
      remote: other.peerId,
      clock: w.clock,
      logger: silentLogger,
      remoteKey: () => Promise.resolve(other.publicKey),
      sendP2p: (d) => {
        const copy = new Uint8Array(d);
        w.clock.setTimeout(() => byId.get(other.peerId)?.handleServerDatagram(copy), 2 * S);
        return true;
      },
      connector: () => Promise.resolve(side.connector),
      onNotification: (n) => got.get(me.peerId)!.push(n.body),
      onPath: (e: { path: LinkPath; reason?: string }) => {
        if (e.path === 'server') downs.get(l)!.push(e.reason ?? '');
      },
      onPunch: () => {},
      // Re-punches far away: what is tested here must not wait for one.
      repunchMs: { initial: 600_000, max: 600_000 },
    });
    downs.set(l, []);
    got.set(me.peerId, []);
    side.connector.onIncoming(
      ({ path }) =>
        void path.then(
          (p) => l.adopt(p),
          () => {},
        ),
    );
    links.push(l);
    byId.set(me.peerId, l);
    return l;
  };
  const sideA = await w.peer(a.peerId, w.nat('port-restricted'), { offers: true });
  const sideB = await w.peer(b.peerId, w.nat('port-restricted'), { offers: true });
  const la = mk(a, b, sideA);
  const lb = mk(b, a, sideB);
  for (let t = 0; t < 1_000; t += 5) await w.clock.advanceAsync(5);
  void la.start();
  await w.run(
    (async () => {
      while (!(la.carries && lb.carries && la.path === 'direct' && lb.path === 'direct'))
        await new Promise((r) => setImmediate(r));
    })(),
    10_000,
  );
  expect([la.path, lb.path]).toEqual(['direct', 'direct']);
  return { w, la, lb, sideB, a, got, downs };
}

describe('the two sides of a link agree on the path', () => {
  it('a punch the other side starts while ours is lively is taken on both sides', async () => {
    const { w, la, lb, sideB, a, got } = await directPair();
    // A's path is lively: a notification both ways a moment ago.
    await w.run(
      Promise.all([
        la.notify({ id: 'a0', body: 'a0' }, 5_000),
        lb.notify({ id: 'b0', body: 'b0' }, 5_000),
      ]),
    );
    // B punches anew (as after its side of the path died, or its timer for a better rung):
    // the punch ends with both sides holding the new pair.
    let fresh: PunchedPath | undefined;
    const punched = sideB.connector.connect(a.peerId).then((p) => {
      fresh = p;
      lb.adopt(p);
    });
    await w.run(punched, 20_000);
    await w.run(
      (async () => {
        while (!(la.carries && lb.carries)) await new Promise((r) => setImmediate(r));
      })(),
      5_000,
    );
    expect(fresh?.closed).toBe(false);
    // Both ways carry at once over it: before, A refused it as "no better than ours" (not quiet),
    // B sent on a pair A had closed, and B's notification waited for consent's 30 s.
    const started = w.clock.now();
    const both = Promise.all([
      lb.notify({ id: 'b1', body: 'b1' }, BOUND_MS),
      la.notify({ id: 'a1', body: 'a1' }, BOUND_MS),
    ]);
    await w.run(both, BOUND_MS + 1_000);
    await both;
    expect(w.clock.now() - started).toBeLessThan(2_000);
    expect(got.get(a.peerId)).toEqual(['b0', 'b1']);
    expect(la.path).toBe('direct');
    expect(lb.path).toBe('direct');
  });

  it('a side that hears nothing on its path with data in flight moves to the server rung', async () => {
    const { w, la, lb, a, got, downs } = await directPair();
    // B drops the path without a word (its side died; it never re-punches here). A still
    // believes in it, and consent (30 s) is the only other thing that would tell it.
    lb.dropPath('gone on this side');
    expect(la.path).toBe('direct');
    const started = w.clock.now();
    const sent = la.notify({ id: 'a1', body: 'after the drop' }, 20_000);
    await w.run(sent, 20_000);
    await sent;
    const took = w.clock.now() - started;
    expect(took).toBeGreaterThanOrEqual(STALL_MS);
    expect(took).toBeLessThan(BOUND_MS);
    expect(la.path).toBe('server');
    expect(downs.get(la)!.some((r) => r.includes('no answer on the path'))).toBe(true);
    expect(got.get(a.peerId)).toEqual([]);
    expect(got.get(la.remote)).toEqual(['after the drop']);
  });
});
