/**
 * ReliableChannel delivery: every notification exactly once and in order, acknowledged — under
 * loss, duplication, reordering, fragmentation, rekeys, path swaps, restarts of either side —
 * and what a send that cannot be delivered does (timeout, close).
 */
import { describe, expect, it } from 'vitest';
import { ReliableChannel } from '../../../src/session/reliable.js';
import { cutAfterHandshake } from './channel-pair.js';
import { note, settle, setup } from './channel-kit.js';
import { LossyPipe } from './lossy-pipe.js';

describe('ReliableChannel: delivery', () => {
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

  it('pathChanged(rttMs): a loss right after the change is resent after the measured RTT, not the initial 1 s RTO', async () => {
    for (const seed of [20, undefined]) {
      const t = setup({ pipe: { delayMs: 10 } });
      expect(await settle(t.clock, [t.ca.send(note('a', 0))])).toEqual(['ok']);
      // The new path (its check measured 20 ms) loses the first datagram sent on it.
      const direct = new LossyPipe(t.clock, (d) => t.b.handle(d), { delayMs: 10, seed: 7 });
      const back = new LossyPipe(t.clock, (d) => t.a.handle(d), { delayMs: 10, seed: 8 });
      t.a.setSend(direct.send);
      t.b.setSend(back.send);
      t.ca.pathChanged(seed);
      t.cb.pathChanged(seed);
      direct.cut = true;
      const sent = t.ca.send(note('a', 1));
      await t.clock.advanceAsync(1);
      direct.cut = false;
      await t.clock.advanceAsync(400);
      // Seeded: RTO = max(200 ms, 20 + 4·10) = 200 ms. Unseeded: 1 s, still waiting.
      expect(t.gotB.map((n) => n.id)).toEqual(seed === undefined ? ['a-0'] : ['a-0', 'a-1']);
      expect(await settle(t.clock, [sent])).toEqual(['ok']);
      t.close();
    }
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
});
