/**
 * Time from a ping's start to the first pong over a direct path, on the in-memory network in
 * virtual time (ManualClock): two PeerLinks with warm punch layers that registered offers with the
 * hub (serve's rules: presence.ts, punch-offers.ts), the server rung a `p2p` hop of two signaling
 * trips, the remote's key a `key-request` round trip. The critical path, in signaling one-way
 * trips S and direct round trips R:
 *
 *   0          A's candidates leave (warm), its key-request too
 *   2S         serve's answer (B's offer) and punch-start reach A; A's candidates reach B
 *   2S + L     both start checks (L = serve's lead)
 *   2S + L     A's first checks carry the Noise IK init (key from the key-request, 2S) with the
 *              ping as 0-RTT data
 *   2S + L + R A's first answered check selects the pair (aggressive nomination) and brings B's
 *              Noise answer with the pong
 *
 * so 2S + L + R (the bench's 6·D + L when R = 4S). The old flow — handshake over serve, then a
 * ping on the path — took max(2S + L + R, 6S) + R; the test fails if any round trip is added back
 * (the handshake or the ping after the path, candidates answered by the other side instead of
 * serve, the lower id waiting for the higher, a nomination round trip).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { PeerLink } from '../../../src/peer/peer-link.js';
import { ATTR_HANDSHAKE } from '../../../src/punch/check-message.js';
import { classifyPacket } from '../../../src/punch/demux.js';
import { decodeStunMessage } from '../../../src/stun/message.js';
import { generateIdentity } from '../../../src/signaling/identity.js';
import { SIGNAL_MS as S, type PunchWorld } from '../punch/world.js';
import { closeLinkWorld, linkPair, linkWorld } from './link-pair.js';

const LEAD = 20;
afterEach(closeLinkWorld);

async function setup(lowerPings: boolean) {
  // Hops of 20 ms: a direct round trip through both NATs is then ~4 S, as in the bench's lab
  // (D per NAT link, serve one link away): neither the punch nor the handshake hides the other.
  const w = await linkWorld({ punchLeadMs: LEAD, hopMs: 20 });
  let [ia, ib] = [generateIdentity(), generateIdentity()];
  // `a` pings; it is the lower id or the higher one as the test asks.
  if (ia.peerId > ib.peerId === lowerPings) [ia, ib] = [ib, ia];
  const sa = await w.peer(ia.peerId, w.nat('port-restricted'), { offers: true });
  const sb = await w.peer(ib.peerId, w.nat('port-restricted'), { offers: true });
  // key-request: one round trip to serve; p2p: to serve and on to the other peer (2 S).
  const pair = linkPair(w, [ia, sa], [ib, sb], { keyDelayMs: 2 * S, handshakeInChecks: true });
  const paths = pair.events;
  const [la, lb] = [pair.a, pair.b];
  // Both logged in for a while: candidates gathered, offers registered with the hub.
  for (let t = 0; t < 1_000; t += 5) await w.clock.advanceAsync(5);
  expect(w.offers.has(ib.peerId)).toBe(true);
  return { w, la, lb, paths };
}

/** What ladder-peer.mjs does: ping on the current rung until a ping leaves on the direct path. */
async function firstDirectPong(w: PunchWorld, la: PeerLink): Promise<{ at: number }> {
  const t0 = w.clock.now();
  void la.start();
  for (;;) {
    const sentDirect = la.path === 'direct';
    let done = false;
    const ping = la.ping(5_000).finally(() => (done = true));
    // The path turning direct sends a ping at once (the driver listens for the path event).
    while (!done && !(la.path === 'direct' && !sentDirect)) await w.clock.advanceAsync(1);
    if (!done) continue; // a new ping leaves on the direct path now; this one ends on its own
    await ping;
    // Direct: it left on the path and came back on it, or it rode in the first checks and its
    // pong in their answer.
    if ((sentDirect && la.path === 'direct') || la.lastRxInCheck) return { at: w.clock.now() - t0 };
  }
}

describe('time to direct with both peers logged in (virtual time)', () => {
  it.each([
    ['the lower id', true],
    ['the higher id', false],
  ])('%s pings: the first direct pong comes with the first direct round trip', async (_, lower) => {
    const { w, la, lb } = await setup(lower);
    const { at } = await firstDirectPong(w, la);
    expect(la.path).toBe('direct');
    // B's path carries once A's first transport message reaches it (its key confirmation): at
    // most one direct one-way trip after A's first pong. Until then B's notifications would go
    // through the server, and its `path` says so.
    const t1 = w.clock.now();
    while (lb.path !== 'direct' && w.clock.now() - t1 < 5_000) await w.clock.advanceAsync(1);
    const bLag = w.clock.now() - t1;
    expect(lb.path).toBe('direct');
    // A direct round trip through both NATs, measured on the path now up.
    const R = await w.run(la.ping(5_000));
    expect(R).toBeGreaterThanOrEqual(3 * S);
    expect(bLag).toBeLessThanOrEqual(R);
    const expected = 2 * S + LEAD + R;
    // Pacing (Ta = 5 ms: the host pairs' checks go first) and 1 ms steps: well under one R.
    expect(at).toBeGreaterThanOrEqual(expected - 1);
    expect(at).toBeLessThan(expected + R / 2);
  });

  it('a middlebox that drops checks carrying the init: the punch and the old handshake still finish', async () => {
    const { w, la, lb } = await setup(true);
    let dropped = 0;
    w.net.dropIf((p) => {
      if (classifyPacket(p.data) !== 'stun-request') return false;
      const drop = decodeStunMessage(p.data).has(ATTR_HANDSHAKE);
      if (drop) dropped++;
      return drop;
    });
    const got: string[] = [];
    lb.channel.onNotification((n) => got.push(n.id));
    const sent = la.notify({ id: 'n-1', body: 'hello' }, 10_000);
    void la.start();
    await w.run(sent);
    await w.run(new Promise<void>((r) => w.clock.setTimeout(r, 3_000)));
    expect(dropped).toBeGreaterThan(0);
    expect(la.path).toBe('direct');
    expect(lb.path).toBe('direct');
    expect(la.session.established && lb.session.established).toBe(true);
    expect(la.lastRxInCheck).toBe(false); // nothing came in a check's answer
    expect(got).toEqual(['n-1']);
    expect((await w.run(la.ping(5_000))) > 0).toBe(true);
  });

  it('glare: both ping at once with their inits in the checks: one session, both direct', async () => {
    const { w, la, lb } = await setup(true);
    void la.start();
    void lb.start();
    const [ra, rb] = await w.run(Promise.all([la.ping(5_000), lb.ping(5_000)]));
    expect(ra > 0 && rb > 0).toBe(true);
    await w.run(new Promise<void>((r) => w.clock.setTimeout(r, 1_000)));
    expect(la.path).toBe('direct');
    expect(lb.path).toBe('direct');
    expect(la.session.stats.handshakesCompleted).toBe(1);
    expect(lb.session.stats.handshakesCompleted).toBe(1);
    const got: string[] = [];
    lb.channel.onNotification((n) => got.push(n.id));
    await w.run(la.notify({ id: 'n-2', body: 'x' }, 5_000));
    expect(got).toEqual(['n-2']);
  });
});
