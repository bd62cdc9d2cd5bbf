/**
 * ReliableChannel.post (reliable.ts): `send` without a promise, for a caller that keeps its own
 * (Peer's Outbox). Its contract: `done` exactly once per notification — no argument when acked,
 * the error otherwise — never from inside `post`; misuse still throws at once; coalesced and
 * delivered exactly once, in order, as `send` is.
 */
import { describe, expect, it } from 'vitest';
import type { ManualClock } from '../../../src/util/clock.js';
import { isNatpushError } from '../../../src/util/errors.js';
import { channelPair, cutAfterHandshake } from './channel-pair.js';
import type { PipeOptions } from './lossy-pipe.js';

function setup(pipe: PipeOptions = {}) {
  return channelPair({ pipe, seeds: [7, 8] });
}

/** Outcomes by index: every call of each `done`, as 'ok' or the error's code. */
function recorder(n: number) {
  const calls: string[][] = Array.from({ length: n }, () => []);
  const done = (i: number) => (err?: Error) =>
    calls[i]!.push(err === undefined ? 'ok' : isNatpushError(err) ? err.code : String(err));
  const settled = () => calls.every((c) => c.length > 0);
  return { calls, done, settled };
}

async function runUntil(clock: ManualClock, ok: () => boolean, maxMs = 120_000) {
  for (let t = 0; t < maxMs && !ok(); t += 50) await clock.advanceAsync(50);
}

describe('ReliableChannel.post', () => {
  it('200 notifications posted in one turn, 10 % loss and reordering: coalesced, each delivered once in order, each done called once', async () => {
    const t = setup({ loss: 0.1, delayMs: 5, jitterMs: 10 });
    t.a.connect();
    await t.clock.advanceAsync(200);
    const before = t.ab.sent;
    const r = recorder(200);
    for (let i = 0; i < 200; i++) t.ca.post({ id: `p-${i}`, body: 'y'.repeat(100) }, r.done(i));
    await runUntil(t.clock, r.settled);
    // Settle a while longer: a second call (a late ack, a retransmission's ack) would show here.
    await t.clock.advanceAsync(5_000);
    expect(r.calls).toEqual(r.calls.map(() => ['ok']));
    expect(t.gotB.map((n) => n.id)).toEqual(Array.from({ length: 200 }, (_, i) => `p-${i}`));
    // Coalesced: ~7 of these per 1,200-byte datagram, retransmissions included well under 200.
    expect(t.ab.sent - before).toBeLessThan(100);
    expect(t.ca.pending).toBe(0);
    t.close();
  });

  it('a refusal (CLOSED, BACKPRESSURE) calls done after post returns, once', async () => {
    const t = setup();
    await cutAfterHandshake(t, 200); // nothing is acked: the queue fills
    const q = recorder(1800);
    for (let i = 0; i < 1800; i++) t.ca.post({ id: `q-${i}`, body: 'z' }, q.done(i));
    // The channel queues 1,792 (maxQueuedMessages); the rest is refused, but not from inside post.
    expect(q.calls.flat()).toEqual([]);
    await Promise.resolve();
    const refused = q.calls.filter((c) => c.length > 0);
    expect(refused.length).toBeGreaterThan(0);
    expect(refused.flat().every((c) => c === 'NATPUSH_ERR_SESSION_BACKPRESSURE')).toBe(true);
    t.ca.close();
    // Close settles every queued one with CLOSED, synchronously, each once.
    expect(q.calls.every((c) => c.length === 1)).toBe(true);
    const after = recorder(1);
    t.ca.post({ id: 'after', body: 'z' }, after.done(0));
    expect(after.calls[0]).toEqual([]);
    await Promise.resolve();
    expect(after.calls[0]).toEqual(['NATPUSH_ERR_SESSION_CLOSED']);
    t.close();
  });

  it('times out on a dead path with SEND_TIMEOUT, once, and leaves no timers', async () => {
    const t = setup();
    await cutAfterHandshake(t, 200);
    const r = recorder(1);
    t.ca.post({ id: 'lost', body: 'x' }, r.done(0), { timeoutMs: 5_000 });
    await runUntil(t.clock, r.settled, 10_000);
    await t.clock.advanceAsync(1_000);
    expect(r.calls[0]).toEqual(['NATPUSH_ERR_SESSION_SEND_TIMEOUT']);
    t.close();
    expect(t.clock.pending).toBe(0);
  });

  it('one clock read for the deadlines of a turn of posts; the next turn reads again', async () => {
    const t = setup();
    await cutAfterHandshake(t, 200); // nothing acked: every one times out, at its own deadline
    let reads = 0;
    const now = t.clock.now.bind(t.clock);
    t.clock.now = () => (reads++, now());
    const r = recorder(200);
    for (let i = 0; i < 100; i++)
      t.ca.post({ id: `a-${i}`, body: 'x' }, r.done(i), { timeoutMs: 5_000 });
    expect(reads).toBeLessThanOrEqual(2); // + arming the one deadline timer; 100 before
    await t.clock.advanceAsync(1_000); // the pump ran; a later turn
    const before = reads;
    for (let i = 100; i < 200; i++)
      t.ca.post({ id: `b-${i}`, body: 'x' }, r.done(i), { timeoutMs: 5_000 });
    expect(reads - before).toBeLessThanOrEqual(2);
    // The first turn's deadlines are 5 s after it, the second's 5 s after the second.
    await t.clock.advanceAsync(4_100);
    expect(r.calls.slice(0, 100).every((c) => c[0] === 'NATPUSH_ERR_SESSION_SEND_TIMEOUT')).toBe(
      true,
    );
    expect(r.calls.slice(100).every((c) => c.length === 0)).toBe(true);
    await t.clock.advanceAsync(1_000);
    expect(r.calls.every((c) => c.length === 1)).toBe(true);
    t.close();
  });

  it('misuse throws at once and calls nothing', () => {
    const t = setup();
    const r = recorder(2);
    expect(() => t.ca.post({ id: 'has space', body: '' }, r.done(0))).toThrow(TypeError);
    expect(() => t.ca.post({ id: 'big', body: 'x'.repeat(16 * 1024 + 1) }, r.done(1))).toThrow(
      RangeError,
    );
    expect(r.calls.flat()).toEqual([]);
    t.close();
  });
});
