/**
 * What a ReliableChannel refuses, drops or bounds: duplicate ids (dedupe, and its off switch),
 * bad ids and topics, junk and hostile batches, packets beyond the advertised receive window.
 */
import { describe, expect, it } from 'vitest';
import { MAX_BATCH_FRAMES } from '../../../src/session/reliable-frames.js';
import { note, settle, setup } from './channel-kit.js';

describe('ReliableChannel: refused, dropped, bounded', () => {
  it('dedupes by id, bounded; the duplicate send still resolves', async () => {
    const t = setup();
    const r = await settle(t.clock, [
      t.ca.send({ id: 'same', body: '1' }),
      t.ca.send({ id: 'same', body: '2' }),
    ]);
    expect(r).toEqual(['ok', 'ok']);
    expect(t.gotB).toEqual([{ id: 'same', body: '1' }]);
    expect(t.cb.stats.duplicatesDropped).toBe(1);
    t.close();
  });

  it('dedupeCapacity 0: no id dedupe in the channel (the Peer dedupes above it)', async () => {
    const t = setup({ options: { dedupeCapacity: 0 } });
    const r = await settle(t.clock, [
      t.ca.send({ id: 'same', body: '1' }),
      t.ca.send({ id: 'same', body: '2' }),
    ]);
    expect(r).toEqual(['ok', 'ok']);
    // Each packet still once and in order: both sends arrive, the id is the Inbox's business.
    expect(t.gotB).toEqual([
      { id: 'same', body: '1' },
      { id: 'same', body: '2' },
    ]);
    expect(t.cb.stats.duplicatesDropped).toBe(0);
    t.close();
  });

  it('batch frames: nested, truncated or empty batches are junk, counted, not delivered', async () => {
    const t = setup();
    t.a.connect();
    await t.clock.advanceAsync(100);
    t.a.send(Uint8Array.of(0x05)); // empty
    t.a.send(Uint8Array.of(0x05, 3, 0, 0x03, 1)); // frame longer than the batch
    t.a.send(Uint8Array.of(0x05, 3, 0, 0x05, 1, 0)); // nested
    t.a.send(Uint8Array.of(0x05, 0, 0)); // zero-length frame
    await t.clock.advanceAsync(100);
    expect(t.cb.stats.protocolErrors).toBe(4);
    expect(t.gotB).toEqual([]);
    t.close();
  });

  it('a hostile batch is dropped whole and never throws out of the handler; the channel goes on', async () => {
    const t = setup({ pipe: { delayMs: 5 } });
    t.a.connect();
    await t.clock.advanceAsync(100);
    const pings = (n: number) => {
      const out = Buffer.alloc(1 + n * 7);
      out[0] = 0x05;
      for (let i = 0; i < n; i++) out.set([5, 0, 0x03, i & 0xff, 0, 0, 0], 1 + i * 7);
      return out;
    };
    // A real data frame (from a channel on another session) followed by a frame cut short: the
    // data frame must not be delivered nor acked, since the datagram is rejected whole.
    const dataFrame = Buffer.alloc(21 + 7);
    dataFrame[0] = 0x06;
    dataFrame.writeUInt32LE(0xabcdef, 1); // an epoch b has not seen
    dataFrame.writeUInt16LE(1, 19); // fragment 0 of 1
    dataFrame.set([1, 1, 0x78, 0, 0, 0x68, 0x69], 21); // notification id "x", body "hi"
    const good = [28, 0, ...dataFrame];
    const hostile = [
      pings(MAX_BATCH_FRAMES + 1), // too many frames: not one pong for it
      Uint8Array.of(0x05, ...good, 5, 0, 0x03), // good data frame, then a truncated one
      Uint8Array.of(0x05, 0xff, 0xff, 0x03, 0, 0, 0, 0), // length 65,535
    ];
    const backBefore = t.ba.sent;
    for (const h of hostile) t.a.send(h);
    await t.clock.advanceAsync(100); // delivery happens in here: a throw would reject this
    expect(t.cb.stats.protocolErrors).toBe(hostile.length);
    expect(t.gotB).toEqual([]);
    expect(t.ba.sent).toBe(backBefore); // no pong, no ack: nothing of them was acted on
    // The limit is exact: MAX_BATCH_FRAMES pings in one batch are answered.
    t.a.send(pings(MAX_BATCH_FRAMES));
    await t.clock.advanceAsync(100);
    expect(t.ba.sent).toBeGreaterThan(backBefore);
    expect(t.cb.stats.protocolErrors).toBe(hostile.length);
    // The same data frame in a well-formed batch is delivered: the rejection above was the
    // truncated frame's doing.
    t.a.send(Uint8Array.of(0x05, ...good, 5, 0, 0x03, 0, 0, 0, 0));
    await t.clock.advanceAsync(100);
    expect(t.gotB).toEqual([{ id: 'x', body: 'hi' }]);
    const sends = Array.from({ length: 5 }, (_, i) => t.ca.send(note('after', i)));
    expect(await settle(t.clock, sends)).toEqual(sends.map(() => 'ok'));
    t.close();
  });

  it('refuses bad ids and topics, counts junk frames', async () => {
    const t = setup();
    expect(() => t.ca.send({ id: 'has space', body: '' })).toThrow(TypeError);
    expect(() => t.ca.send({ id: 'ok', topic: 'a\u202eb', body: '' })).toThrow(TypeError);
    t.a.send(Uint8Array.of(0x09, 1, 2));
    t.a.send(Uint8Array.of(0x02, 1));
    await t.clock.advanceAsync(100);
    expect(t.cb.stats.protocolErrors).toBe(2);
    t.close();
  });

  it('bounds the receive buffer to the advertised window', async () => {
    // A first window as large as the session holds before its handshake (then slow start).
    const t = setup({
      pipe: { delayMs: 10 },
      options: { recvWindowPackets: 256, initialWindowPackets: 128 },
    });
    // Lose the first data packet of A's stream; its retransmission comes only after the 1 s
    // initial RTO, so meanwhile B buffers everything behind the gap.
    let first = true;
    t.ab.dropIf = (d) => {
      if (!(first && d[0] === 0xc3 && d.length > 200)) return false;
      first = false;
      return true;
    };
    const sends = Array.from({ length: 10 }, (_, k) =>
      t.ca.send({ id: `w${k}`, body: 'y'.repeat(16 * 1024) }),
    );
    let maxBuffered = 0;
    for (let ms = 0; ms < 500; ms += 5) {
      await t.clock.advanceAsync(5);
      maxBuffered = Math.max(maxBuffered, t.cb.buffered);
    }
    // The sender stopped at the receiver's window: at most 255 packets behind the missing pn 0 …
    expect(maxBuffered).toBeGreaterThan(128);
    expect(maxBuffered).toBeLessThanOrEqual(255);
    expect(t.cb.stats.outOfWindow).toBe(0);
    const r = await settle(t.clock, sends);
    expect(r.every((x) => x === 'ok')).toBe(true);
    // … and everything arrives once the gap is filled.
    expect(t.gotB.map((n) => n.id)).toEqual(Array.from({ length: 10 }, (_, k) => `w${k}`));
    expect(t.cb.buffered).toBe(0);
    t.close();
  });
});
