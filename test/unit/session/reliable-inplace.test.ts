/**
 * The channel's allocation-free paths (reliable.ts): a notification that fits one data frame is
 * encoded straight into each datagram it goes in (out-message.ts, DatagramBuilder.addMessage) —
 * retransmissions encode it again from its strings — and received data frames are decoded into
 * objects reused from datagram to datagram (FrameReader), copied only into the out-of-order
 * buffer. What must hold whatever the path does: each notification arrives once, in order, byte
 * for byte as it was sent.
 */
import { describe, expect, it } from 'vitest';
import type { Notification } from '../../../src/session/reliable.js';
import type { ManualClock } from '../../../src/util/clock.js';
import { channelPair } from './channel-pair.js';
import { prng } from './lossy-pipe.js';

async function runUntil(clock: ManualClock, ok: () => boolean, maxMs = 300_000) {
  for (let t = 0; t < maxMs && !ok(); t += 50) await clock.advanceAsync(50);
}

/** `n` notifications of mixed kinds: one frame or several, with and without topic, multi-byte. */
function mixed(n: number, seed: number): Notification[] {
  const rand = prng(seed);
  const out: Notification[] = [];
  for (let i = 0; i < n; i++) {
    const r = rand();
    const body =
      r < 0.5
        ? `small ${i} ` + 'a'.repeat(Math.floor(rand() * 200))
        : r < 0.8
          ? `utf8 ${i} ` + 'é€😀'.repeat(1 + Math.floor(rand() * 60)) // 2-, 3- and 4-byte
          : `big ${i} ` + 'ü'.repeat(600 + Math.floor(rand() * 3000)); // several fragments
    out.push(
      rand() < 0.4 ? { id: `m-${i}`, topic: `tøpic/${i % 7}`, body } : { id: `m-${i}`, body },
    );
  }
  return out;
}

describe('ReliableChannel in-place encoding and reused frames', () => {
  it('under loss, duplication and reordering, mixed notifications arrive once, in order, byte for byte', async () => {
    const t = channelPair({
      seeds: [11, 12],
      pipe: { loss: 0.15, duplicate: 0.05, delayMs: 5, jitterMs: 15 },
    });
    t.a.connect();
    await t.clock.advanceAsync(500);
    const sent = mixed(400, 3);
    let acked = 0;
    for (const n of sent) t.ca.post(n, (err) => (err ? expect.fail(String(err)) : acked++));
    await runUntil(t.clock, () => acked === sent.length);
    await t.clock.advanceAsync(5_000); // a late duplicate would show here
    expect(acked).toBe(sent.length);
    // Out of order arrivals went through the receive buffer (the copies of reused frames).
    expect(t.ca.stats.retransmissions).toBeGreaterThan(0);
    expect(t.gotB).toEqual(sent);
    t.close();
  });

  it('what arrives is what was sent, even when the caller changes its object afterwards and the first copy is lost', async () => {
    const t = channelPair({ seeds: [1, 2] });
    t.a.connect();
    await t.clock.advanceAsync(500);
    let dropped = 0;
    t.ab.dropIf = () => dropped++ < 3; // the first transmissions are lost: retransmitted later
    const n: Notification = { id: 'keep-1', topic: 'før', body: 'the body as sent ✓' };
    let ok = false;
    t.ca.post(n, (err) => (ok = err === undefined));
    n.id = 'changed';
    n.topic = 'changed';
    n.body = 'changed after post';
    await runUntil(t.clock, () => ok);
    expect(ok).toBe(true);
    expect(dropped).toBeGreaterThan(1);
    expect(t.gotB).toEqual([{ id: 'keep-1', topic: 'før', body: 'the body as sent ✓' }]);
    t.close();
  });
});
