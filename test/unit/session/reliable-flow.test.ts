/**
 * How a ReliableChannel paces and packs: notifications of one turn coalesced into few datagrams
 * and few acks, the end of a burst acked at once, the congestion window, bounded queues.
 */
import { describe, expect, it } from 'vitest';
import { note, settle, setup } from './channel-kit.js';

describe('ReliableChannel: coalescing', () => {
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
