import { describe, expect, it } from 'vitest';
import {
  ReliableChannel,
  type Notification,
  type ReliableOptions,
} from '../../../src/session/reliable.js';
import type { SecureSessionOptions } from '../../../src/session/secure-session.js';
import { MAX_BATCH_FRAMES } from '../../../src/session/reliable-frames.js';
import { ManualClock } from '../../../src/util/clock.js';
import { isNatpushError } from '../../../src/util/errors.js';
import { channelPair, cutAfterHandshake } from './channel-pair.js';
import { LossyPipe, type PipeOptions } from './lossy-pipe.js';

function setup(
  o: {
    pipe?: PipeOptions;
    timers?: SecureSessionOptions['timers'];
    seed?: number;
    options?: ReliableOptions;
  } = {},
) {
  const seed = o.seed ?? 0;
  return channelPair({ ...o, seeds: [101 + seed, 202 + seed] });
}

/** Run the clock until every promise settled (or `maxMs` passed). */
async function settle(clock: ManualClock, promises: Promise<unknown>[], maxMs = 120_000) {
  let done = 0;
  const results = promises.map((p) =>
    p.then(
      () => {
        done++;
        return 'ok';
      },
      (e: unknown) => {
        done++;
        return isNatpushError(e) ? e.code : String(e);
      },
    ),
  );
  for (let t = 0; t < maxMs && done < promises.length; t += 50) await clock.advanceAsync(50);
  return Promise.all(results);
}

const note = (prefix: string, i: number, body = `body ${i}`): Notification => ({
  id: `${prefix}-${i}`,
  topic: 'test',
  body,
});

describe('ReliableChannel', () => {
  it('delivers, acknowledges and measures the round trip', async () => {
    const t = setup({ pipe: { delayMs: 20 } });
    const r = await settle(t.clock, [t.ca.send({ id: 'n1', body: 'héllo' })]);
    expect(r).toEqual(['ok']);
    expect(t.gotB).toEqual([{ id: 'n1', body: 'héllo' }]);
    expect(t.ca.pending).toBe(0);
    const rtt = await settle(t.clock, [t.ca.ping()]);
    expect(rtt).toEqual(['ok']);
    expect(t.ca.rttMs).toBeGreaterThanOrEqual(40);
    expect(t.ca.rttMs).toBeLessThan(80);
    t.close();
  });

  it('ping resolves with the path round trip', async () => {
    const t = setup({ pipe: { delayMs: 25 } });
    t.a.connect();
    await t.clock.advanceAsync(200);
    const p = t.ca.ping();
    await t.clock.advanceAsync(100);
    expect(await p).toBe(50);
    t.close();
  });

  it('100 notifications each way, 10 % loss and reordering: exactly once, in order', async () => {
    const t = setup({ pipe: { loss: 0.1, delayMs: 20, jitterMs: 30, duplicate: 0.02 } });
    const sends: Promise<void>[] = [];
    for (let i = 0; i < 100; i++) {
      sends.push(t.ca.send(note('a', i)), t.cb.send(note('b', i)));
      await t.clock.advanceAsync(3);
    }
    const results = await settle(t.clock, sends);
    expect(results.every((r) => r === 'ok')).toBe(true);
    expect(t.gotB.map((n) => n.id)).toEqual(Array.from({ length: 100 }, (_, i) => `a-${i}`));
    expect(t.gotA.map((n) => n.id)).toEqual(Array.from({ length: 100 }, (_, i) => `b-${i}`));
    expect(t.gotB[42]).toEqual(note('a', 42));
    expect(t.ca.stats.retransmissions + t.cb.stats.retransmissions).toBeGreaterThan(0);
    t.close();
  });

  it.each([1, 2, 3, 4, 5, 6, 7, 8])(
    'stress seed %i: 25 % loss, duplicates, reordering, rekey every 8 messages, both sides opening',
    async (seed) => {
      const t = setup({
        seed: seed * 1000,
        pipe: { loss: 0.25, duplicate: 0.05, delayMs: 15, jitterMs: 40 },
        timers: { rekeyAfterMessages: 8 },
      });
      const sends: Promise<void>[] = [];
      // 120 s to deliver: a tail packet lost 4 times in a row at 25 % loss (1 in 256) waits out
      // RTOs of 1 + 2 + 4 + 8 + 10 s; the 30 s default would make the test about luck.
      const o = { timeoutMs: 120_000 };
      for (let i = 0; i < 40; i++) {
        sends.push(t.ca.send(note('a', i), o), t.cb.send(note('b', i), o));
        await t.clock.advanceAsync(i % 7);
      }
      const results = await settle(t.clock, sends, 200_000);
      expect(results.filter((r) => r !== 'ok')).toEqual([]);
      expect(t.gotB.map((n) => n.id)).toEqual(Array.from({ length: 40 }, (_, i) => `a-${i}`));
      expect(t.gotA.map((n) => n.id)).toEqual(Array.from({ length: 40 }, (_, i) => `b-${i}`));
      t.close();
    },
  );

  it('16 KiB bodies are fragmented to the MTU and reassembled, under loss', async () => {
    const t = setup({ pipe: { loss: 0.1, delayMs: 15, jitterMs: 10 } });
    const sizes: number[] = [];
    t.ab.taps.push((d) => sizes.push(d.length));
    const bodies = Array.from({ length: 5 }, (_, k) =>
      Array.from({ length: 16 * 1024 }, (_, i) =>
        String.fromCharCode(97 + ((i * (k + 3)) % 26)),
      ).join(''),
    );
    const r = await settle(
      t.clock,
      bodies.map((body, k) => t.ca.send({ id: `big-${k}`, topic: 'ß', body })),
    );
    expect(r.every((x) => x === 'ok')).toBe(true);
    expect(t.gotB.map((n) => n.body)).toEqual(bodies);
    expect(t.gotB[0]!.topic).toBe('ß');
    expect(Math.max(...sizes)).toBeLessThanOrEqual(1200);
    expect(() => t.ca.send({ id: 'too-big', body: 'x'.repeat(16 * 1024 + 1) })).toThrow(RangeError);
    t.close();
  });

  it('keeps going across rekeys mid-stream', async () => {
    const t = setup({
      pipe: { loss: 0.05, delayMs: 10, jitterMs: 10 },
      timers: { rekeyAfterMessages: 25 },
    });
    const sends: Promise<void>[] = [];
    for (let i = 0; i < 100; i++) {
      sends.push(t.ca.send(note('a', i)), t.cb.send(note('b', i)));
      await t.clock.advanceAsync(5);
    }
    const results = await settle(t.clock, sends);
    expect(results.every((r) => r === 'ok')).toBe(true);
    expect(t.a.stats.handshakesCompleted + t.b.stats.handshakesCompleted).toBeGreaterThan(4);
    expect(t.gotB.map((n) => n.id)).toEqual(Array.from({ length: 100 }, (_, i) => `a-${i}`));
    expect(t.gotA.map((n) => n.id)).toEqual(Array.from({ length: 100 }, (_, i) => `b-${i}`));
    t.close();
  });

  it('swapping the send path mid-stream (old path dies with datagrams in flight) loses nothing', async () => {
    const t = setup({ pipe: { delayMs: 60 } });
    const direct = new LossyPipe(t.clock, (d) => t.b.handle(d), { delayMs: 10, seed: 5 });
    const directBack = new LossyPipe(t.clock, (d) => t.a.handle(d), { delayMs: 10, seed: 6 });
    const sends: Promise<void>[] = [];
    for (let i = 0; i < 60; i++) {
      if (i === 30) {
        // Upgrade relay → direct: the relay path dies with datagrams in flight.
        t.ab.dropInFlight();
        t.ba.dropInFlight();
        t.ab.cut = t.ba.cut = true;
        t.a.setSend(direct.send);
        t.b.setSend(directBack.send);
        t.ca.pathChanged();
        t.cb.pathChanged();
      }
      sends.push(t.ca.send(note('a', i)), t.cb.send(note('b', i)));
      await t.clock.advanceAsync(4);
    }
    const results = await settle(t.clock, sends);
    expect(results.every((r) => r === 'ok')).toBe(true);
    expect(t.gotB.map((n) => n.id)).toEqual(Array.from({ length: 60 }, (_, i) => `a-${i}`));
    expect(t.gotA.map((n) => n.id)).toEqual(Array.from({ length: 60 }, (_, i) => `b-${i}`));
    expect(direct.delivered).toBeGreaterThan(30);
    // RTT now reflects the direct path.
    expect(t.ca.rttMs).toBeLessThan(60);
    t.close();
  });

  it('a path swap without pathChanged() recovers by RTO', async () => {
    const t = setup({ pipe: { delayMs: 30 } });
    const sends = [t.ca.send(note('a', 0))];
    await t.clock.advanceAsync(10);
    t.ab.dropInFlight();
    const other = new LossyPipe(t.clock, (d) => t.b.handle(d), { delayMs: 5 });
    t.a.setSend(other.send);
    sends.push(t.ca.send(note('a', 1)));
    expect(await settle(t.clock, sends)).toEqual(['ok', 'ok']);
    expect(t.gotB.map((n) => n.id)).toEqual(['a-0', 'a-1']);
    t.close();
  });

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

  it('a restarted receiver or sender channel picks up the stream', async () => {
    const t = setup();
    await settle(
      t.clock,
      [0, 1, 2].map((i) => t.ca.send(note('a', i))),
    );
    // B's channel restarts (same session).
    t.cb.close();
    const cb2 = new ReliableChannel({ session: t.b, clock: t.clock });
    const got2: string[] = [];
    cb2.onNotification((n) => got2.push(n.id));
    await settle(
      t.clock,
      [3, 4].map((i) => t.ca.send(note('a', i))),
    );
    expect(got2).toEqual(['a-3', 'a-4']);
    // A's channel restarts: a new epoch, B starts at its base.
    t.ca.close();
    const ca2 = new ReliableChannel({ session: t.a, clock: t.clock });
    expect(await settle(t.clock, [ca2.send(note('a2', 0))])).toEqual(['ok']);
    expect(got2).toEqual(['a-3', 'a-4', 'a2-0']);
    ca2.close();
    cb2.close();
    t.close();
  });

  it('times out on a dead path, rejects on close, and leaves no timers', async () => {
    const t = setup();
    await cutAfterHandshake(t, 100);
    const p = t.ca.send({ id: 'lost', body: 'x' }, { timeoutMs: 5_000 });
    expect(await settle(t.clock, [p], 10_000)).toEqual(['NATPUSH_ERR_SESSION_SEND_TIMEOUT']);
    const q = t.ca.send({ id: 'closing', body: 'x' });
    const ping = t.ca.ping();
    t.ca.close();
    expect(await settle(t.clock, [q, ping])).toEqual([
      'NATPUSH_ERR_SESSION_CLOSED',
      'NATPUSH_ERR_SESSION_CLOSED',
    ]);
    await expect(t.ca.send({ id: 'after', body: 'x' })).rejects.toThrow(/closed/);
    t.close();
    expect(t.clock.pending).toBe(0);
  });

  it('coalesces notifications sent in one turn into few datagrams, acked with few acks', async () => {
    const t = setup({ pipe: { delayMs: 20 } });
    t.a.connect();
    await t.clock.advanceAsync(200);
    const before = { ab: t.ab.sent, ba: t.ba.sent };
    // 40 × ~60-byte frames ≈ 2.4 KB: three 1200-byte datagrams, not forty.
    const sends = Array.from({ length: 40 }, (_, i) => t.ca.send(note('c', i)));
    expect(await settle(t.clock, sends)).toEqual(sends.map(() => 'ok'));
    expect(t.gotB.map((n) => n.id)).toEqual(Array.from({ length: 40 }, (_, i) => `c-${i}`));
    expect(t.ab.sent - before.ab).toBeLessThanOrEqual(3);
    expect(t.ca.stats.packetsSent).toBe(40); // still one pn per notification
    // One ack per 32 packets, plus one for the burst's last (DATA_ACK_NOW) frame.
    expect(t.ba.sent - before.ba).toBeLessThanOrEqual(3);
    expect(t.cb.stats.acksSent).toBeLessThanOrEqual(3);
    t.close();
  });

  it('a listener that unsubscribes mid-datagram gets nothing more; the others get every notification', async () => {
    const t = setup({ pipe: { delayMs: 20 } });
    t.a.connect();
    await t.clock.advanceAsync(200);
    const quitter: string[] = [];
    const off = t.cb.onNotification((n) => {
      quitter.push(n.id);
      if (quitter.length === 3) off();
    });
    // Ten small notifications in one turn share one datagram (coalescing), so the unsubscribe
    // happens while that datagram's notifications are being delivered.
    const sends = Array.from({ length: 10 }, (_, i) => t.ca.send(note('u', i)));
    expect(await settle(t.clock, sends)).toEqual(sends.map(() => 'ok'));
    expect(quitter).toEqual(['u-0', 'u-1', 'u-2']);
    expect(t.gotB.map((n) => n.id)).toEqual(Array.from({ length: 10 }, (_, i) => `u-${i}`));
    t.close();
  });

  it('a lone notification is acked within one round trip (DATA_ACK_NOW), not after the ack delay', async () => {
    const t = setup({ pipe: { delayMs: 20 } });
    t.a.connect();
    await t.clock.advanceAsync(200);
    let done = false;
    void t.ca.send({ id: 'lone', body: 'x' }).then(() => (done = true));
    await t.clock.advanceAsync(40); // 20 ms there, 20 ms back; the ack delay would add 10 ms
    expect(done).toBe(true);
    t.close();
  });

  it('retransmissions of a batch are coalesced too, and a lost batch loses nothing', async () => {
    const t = setup({ pipe: { delayMs: 10 } });
    t.a.connect();
    await t.clock.advanceAsync(200);
    let drop = 1;
    t.ab.dropIf = (d) => d[0] === 0xc3 && d.length > 200 && drop-- > 0;
    const sends = Array.from({ length: 12 }, (_, i) => t.ca.send(note('r', i)));
    expect(await settle(t.clock, sends)).toEqual(sends.map(() => 'ok'));
    expect(t.gotB.map((n) => n.id)).toEqual(Array.from({ length: 12 }, (_, i) => `r-${i}`));
    expect(t.ca.stats.retransmissions).toBe(12);
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

  it('one send-timeout timer serves mixed timeouts: each send rejects at its own deadline', async () => {
    const t = setup();
    await cutAfterHandshake(t, 100);
    const at: Record<string, number> = {};
    const start = t.clock.now();
    const track = (id: string, timeoutMs: number) =>
      t.ca.send({ id, body: 'x' }, { timeoutMs }).catch(() => (at[id] = t.clock.now() - start));
    const all = [track('long', 10_000), track('short', 1_000), track('mid', 5_000)];
    for (let i = 0; i < 120 && Object.keys(at).length < 3; i++) await t.clock.advanceAsync(100);
    await Promise.all(all);
    expect(at).toEqual({ short: 1_000, mid: 5_000, long: 10_000 });
    expect(t.ca.pending).toBe(0);
    t.close();
    expect(t.clock.pending).toBe(0);
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

describe('ReliableChannel: congestion window, ack coalescing, bounded queues', () => {
  /** A connected pair (handshake done), so what follows measures the stream alone. */
  async function connected(o: Parameters<typeof setup>[0] = {}) {
    const t = setup({ pipe: { delayMs: 10 }, ...o });
    t.a.connect();
    await t.clock.advanceAsync(200);
    return t;
  }

  it('the window grows in slow start during a lossless flood (more than its initial 32 in flight)', async () => {
    const t = await connected();
    expect(t.ca.congestion.window).toBe(32);
    let maxInFlight = 0;
    const sends = Array.from({ length: 600 }, (_, i) => t.ca.send(note('g', i, 'x'.repeat(100))));
    const results = settle(t.clock, sends);
    for (let ms = 0; ms < 200; ms += 1) {
      await t.clock.advanceAsync(1);
      maxInFlight = Math.max(maxInFlight, t.ca.inFlight);
    }
    expect(await results).toEqual(sends.map(() => 'ok'));
    expect(t.gotB.map((n) => n.id)).toEqual(Array.from({ length: 600 }, (_, i) => `g-${i}`));
    expect(maxInFlight).toBeGreaterThan(64); // a fixed window of 32 would stay at 32
    expect(t.ca.congestion.peak).toBeGreaterThan(64);
    expect(t.ca.congestion.reductions).toBe(0);
    t.close();
  });

  it('a loss halves the window (once per event); the stream still arrives exactly once, in order', async () => {
    const t = await connected();
    // Grow the window first.
    const warm = Array.from({ length: 300 }, (_, i) => t.ca.send(note('w', i)));
    expect(await settle(t.clock, warm)).toEqual(warm.map(() => 'ok'));
    const grown = t.ca.congestion.window;
    expect(grown).toBeGreaterThan(64);
    // Then lose two data datagrams of the next burst.
    let drops = 2;
    t.ab.dropIf = (d) => d[0] === 0xc3 && d.length > 600 && drops-- > 0;
    const sends = Array.from({ length: 300 }, (_, i) => t.ca.send(note('l', i)));
    expect(await settle(t.clock, sends)).toEqual(sends.map(() => 'ok'));
    expect(t.ca.stats.fastRetransmissions).toBeGreaterThan(0);
    expect(t.ca.congestion.reductions).toBeGreaterThanOrEqual(1);
    expect(t.ca.congestion.reductions).toBeLessThanOrEqual(2);
    expect(t.gotB.filter((n) => n.id.startsWith('l-')).map((n) => n.id)).toEqual(
      Array.from({ length: 300 }, (_, i) => `l-${i}`),
    );
    t.close();
  });

  it('1,000-byte notifications (a datagram each) are acked once per 16 datagrams, not each', async () => {
    const t = await connected();
    const acksBefore = t.cb.stats.acksSent;
    const dgBefore = t.ab.sent;
    const sends = Array.from({ length: 24 }, (_, i) => t.ca.send(note('k', i, 'z'.repeat(1000))));
    expect(await settle(t.clock, sends)).toEqual(sends.map(() => 'ok'));
    expect(t.ab.sent - dgBefore).toBe(24); // one datagram each: nothing to coalesce
    // 24 datagrams in one burst (window 32): an ack after the 16th, and one at the burst's end.
    expect(t.cb.stats.acksSent - acksBefore).toBe(2);
    t.close();
  });

  it('fills datagrams: 100 notifications of 100 bytes sent in one turn take ≤ 10 datagrams', async () => {
    const t = await connected();
    const dgBefore = t.ab.sent;
    const sends = Array.from({ length: 100 }, (_, i) => t.ca.send(note('f', i, 'y'.repeat(100))));
    expect(await settle(t.clock, sends)).toEqual(sends.map(() => 'ok'));
    // ~130 bytes per frame with headers: 8 per 1170-byte payload → 13 datagrams at most if full.
    expect(t.ab.sent - dgBefore).toBeLessThanOrEqual(13);
    t.close();
  });

  it('a stalled receiver: in flight stays within the window, the queue is bounded (BACKPRESSURE)', async () => {
    const t = await connected({ options: { maxQueuedMessages: 50, initialWindowPackets: 8 } });
    t.ab.cut = true;
    const sends = Array.from({ length: 100 }, (_, i) => t.ca.send(note('s', i)));
    const results = settle(t.clock, sends, 20_000);
    await t.clock.advanceAsync(1);
    expect(t.ca.inFlight).toBe(8);
    await t.clock.advanceAsync(10_000); // RTOs: the window drops to its minimum, nothing new leaves
    expect(t.ca.inFlight).toBe(8);
    expect(t.ca.congestion.window).toBe(2);
    expect(t.ca.congestion.timeouts).toBeGreaterThan(0);
    t.ab.cut = false;
    const r = await results;
    // The queue took 50 (sends in one turn queue before any leaves); the rest were refused at once.
    expect(r.slice(0, 50)).toEqual(Array.from({ length: 50 }, () => 'ok'));
    expect(r.slice(50)).toEqual(
      Array.from({ length: 50 }, () => 'NATPUSH_ERR_SESSION_BACKPRESSURE'),
    );
    expect(t.gotB.map((n) => n.id)).toEqual(Array.from({ length: 50 }, (_, i) => `s-${i}`));
    t.close();
  });
});
