/**
 * What a move of the ladder sends twice. Moving up from the server rung (a WebSocket: what is in
 * flight there arrives) resends nothing; moving down from a UDP path that died resends what was
 * in flight on it at once (it may be lost with the path). Lossless in-memory network, so every
 * retransmission counted here is a copy the receiver drops.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { SIGNAL_MS } from '../punch/world.js';
import { closeLinkWorld, linkPair, linkWorld } from './link-pair.js';
import { orderedPeers } from './ordered-peers.js';

afterEach(closeLinkWorld);

async function setup() {
  const w = await linkWorld();
  const { ia, ib, sa, sb } = await orderedPeers(w);
  const pair = linkPair(w, [ia, sa], [ib, sb], {
    serverMs: SIGNAL_MS,
    link: { repunchMs: { initial: 60_000, max: 60_000 } },
  });
  // What b receives (a receives nothing in these tests).
  return { w, la: pair.a, lb: pair.b, got: pair.got.b };
}

describe('resends on a move of the ladder', () => {
  it('moving up from the server rung mid-stream resends nothing; all arrive once', async () => {
    const { w, la, lb, got } = await setup();
    const sent: Promise<void>[] = [];
    void la.start();
    // 1 notification per ms over the server rung (20 ms one way: ~40 in flight) while the
    // punch climbs to direct.
    for (let i = 0; la.path !== 'direct' || lb.path !== 'direct' || i < 50; i++) {
      sent.push(la.notify({ id: `u${i}`, body: `u${i}` }, 60_000));
      await w.clock.advanceAsync(1);
      expect(i).toBeLessThan(20_000);
    }
    await w.run(Promise.all(sent), 60_000);
    expect(got).toHaveLength(sent.length);
    expect(new Set(got).size).toBe(sent.length);
    process.stderr.write(
      `up mid-stream: ${la.channel.stats.retransmissions} retransmissions of ${la.channel.stats.packetsSent} packets (${sent.length} notifications)\n`,
    );
    expect(la.channel.stats.retransmissions).toBe(0);
  });

  it('moving down from a dead path resends what was in flight on it; nothing lost', async () => {
    const { w, la, lb, got } = await setup();
    void la.start();
    for (let t = 0; t < 20_000 && !(la.path === 'direct' && lb.path === 'direct'); t += 5)
      await w.clock.advanceAsync(5);
    const sent = Array.from({ length: 50 }, (_, i) =>
      la.notify({ id: `k${i}`, body: `k${i}` }, 60_000),
    );
    await w.clock.advanceAsync(1); // on the wire of the direct path
    la.dropPath('killed by the test');
    lb.dropPath('killed by the test');
    await w.run(Promise.all(sent), 60_000);
    expect([...got].sort()).toEqual(Array.from({ length: 50 }, (_, i) => `k${i}`).sort());
    expect(la.channel.stats.retransmissions).toBeGreaterThan(0);
  });
});
