/**
 * The two sides of a link use the same path (AGREEMENT in src/peer/peer-link-types.ts). When they
 * did not — one side took a new punched path while the other kept its own, or one side dropped a
 * path the other still sent on — each sent where the other no longer listened, and nothing said
 * so until consent failed (RFC 7675, 30 s): CI saw a relayed session sit ~50 s on two different
 * dead paths after its relay died (test/integration/cluster/relay-move.test.ts).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { STALL_MS } from '../../../src/peer/peer-link-types.js';
import type { PunchedPath } from '../../../src/punch/index.js';
import { generateIdentity } from '../../../src/signaling/identity.js';
import type { PunchWorld, PeerSide } from '../punch/world.js';
import { closeLinkWorld, linkPair, linkWorld, type LinkPair } from './link-pair.js';

afterEach(closeLinkWorld);

/** Far below consent's 30 s. */
const BOUND_MS = 12_000;

/** Two links on a direct path; re-punches far away (what is tested must not wait for one). */
async function directPair(): Promise<LinkPair & { w: PunchWorld; sideB: PeerSide; aId: string }> {
  const w = await linkWorld();
  const [ia, ib] = [generateIdentity(), generateIdentity()];
  const sideA = await w.peer(ia.peerId, w.nat('port-restricted'), { offers: true });
  const sideB = await w.peer(ib.peerId, w.nat('port-restricted'), { offers: true });
  const pair = linkPair(w, [ia, sideA], [ib, sideB], {
    link: { repunchMs: { initial: 600_000, max: 600_000 } },
  });
  const { a, b } = pair;
  for (let t = 0; t < 1_000; t += 5) await w.clock.advanceAsync(5);
  void a.start();
  await w.run(
    (async () => {
      while (!(a.carries && b.carries && a.path === 'direct' && b.path === 'direct'))
        await new Promise((r) => setImmediate(r));
    })(),
    10_000,
  );
  expect([a.path, b.path]).toEqual(['direct', 'direct']);
  return { ...pair, w, sideB, aId: ia.peerId };
}

describe('the two sides of a link agree on the path', () => {
  it('a punch the other side starts while ours is lively is taken on both sides', async () => {
    const { w, a, b, sideB, aId, got } = await directPair();
    // A's path is lively: a notification both ways a moment ago.
    await w.run(
      Promise.all([
        a.notify({ id: 'a0', body: 'a0' }, 5_000),
        b.notify({ id: 'b0', body: 'b0' }, 5_000),
      ]),
    );
    // B punches anew (as after its side of the path died, or its timer for a better rung):
    // the punch ends with both sides holding the new pair.
    let fresh: PunchedPath | undefined;
    const punched = sideB.connector.connect(aId).then((p) => {
      fresh = p;
      b.adopt(p);
    });
    await w.run(punched, 20_000);
    await w.run(
      (async () => {
        while (!(a.carries && b.carries)) await new Promise((r) => setImmediate(r));
      })(),
      5_000,
    );
    expect(fresh?.closed).toBe(false);
    // Both ways carry at once over it: before, A refused it as "no better than ours" (not quiet),
    // B sent on a pair A had closed, and B's notification waited for consent's 30 s.
    const started = w.clock.now();
    const both = Promise.all([
      b.notify({ id: 'b1', body: 'b1' }, BOUND_MS),
      a.notify({ id: 'a1', body: 'a1' }, BOUND_MS),
    ]);
    await w.run(both, BOUND_MS + 1_000);
    await both;
    expect(w.clock.now() - started).toBeLessThan(2_000);
    expect(got.a).toEqual(['b0', 'b1']);
    expect([a.path, b.path]).toEqual(['direct', 'direct']);
  });

  it('a side that hears nothing on its path with data in flight moves to the server rung', async () => {
    const { w, a, b, got, reasons } = await directPair();
    // B drops the path without a word (its side died; it never re-punches here). A still
    // believes in it, and consent (30 s) is the only other thing that would tell it.
    b.dropPath('gone on this side');
    expect(a.path).toBe('direct');
    const started = w.clock.now();
    const sent = a.notify({ id: 'a1', body: 'after the drop' }, 20_000);
    await w.run(sent, 20_000);
    await sent;
    const took = w.clock.now() - started;
    expect(took).toBeGreaterThanOrEqual(STALL_MS);
    expect(took).toBeLessThan(BOUND_MS);
    expect(a.path).toBe('server');
    expect(reasons.a.some((r) => r.includes('no answer on the path'))).toBe(true);
    expect(got.a).toEqual([]);
    expect(got.b).toEqual(['after the drop']);
  });

  it('pings alone that get no pong on the path also move it to the server rung (issue 9/11)', async () => {
    // netsim (pcp restarted, counter moved): both sides held 'direct', every ping timed out for
    // ~90 s. Pings are not reliable data (nothing "in flight"), so the stall rule never saw them,
    // and the consent checks were still answered: nothing dropped the path.
    const { w, a, b, reasons } = await directPair();
    b.dropPath('gone on this side');
    expect(a.path).toBe('direct');
    const started = w.clock.now();
    const errors: string[] = [];
    for (let i = 0; i < 4 && a.path === 'direct'; i++) {
      const pinged = a.ping(5_000).catch((err: Error) => errors.push(err.message));
      await w.run(pinged, 10_000);
      await pinged;
    }
    expect(a.path).toBe('server');
    expect(w.clock.now() - started).toBeLessThan(BOUND_MS);
    expect(errors.length).toBeGreaterThanOrEqual(2);
    expect(reasons.a.some((r) => r.includes('no answer on the path'))).toBe(true);
    // And the server rung answers the next ping.
    const rtt = a.ping(5_000);
    await w.run(rtt, 10_000);
    expect(await rtt).toBeGreaterThanOrEqual(0);
  });
});
