/**
 * EarlyAccepts on its own (src/signaling/early-accepts.ts): entries are found by recipient, id
 * AND sender; a second entry with a recipient's id waiting is refused (it is written instead);
 * due ones come out in accept order across recipients, past the ones already acked; and an
 * ack of one queued for a batch cancels it.
 */
import { describe, expect, it } from 'vitest';
import { EarlyAccepts } from '../../../src/signaling/early-accepts.js';
import type { PendingAccept } from '../../../src/signaling/mailbox-batch.js';
import { ManualClock } from '../../../src/util/clock.js';

const A = 'a'.repeat(32);
const B = 'b'.repeat(32);
const X = 'x'.repeat(32);
const Y = 'y'.repeat(32);
const WAIT = 10;

function pa(id: string, from: string, to: string): PendingAccept {
  const n = { id, from, to, topic: '', body: 'b', ts: 0, expires: 1e15 };
  return { n, resolve: () => {}, reject: () => {} };
}

function setup() {
  const clock = new ManualClock();
  const due: PendingAccept[][] = [];
  const early = new EarlyAccepts(clock, WAIT, (d) => due.push(d));
  return { clock, due, early };
}

describe('EarlyAccepts', () => {
  it('take needs the recipient, the id and the sender', () => {
    const { early } = setup();
    const a = pa('n1', X, A);
    expect(early.add(a, 0)).toBe(true);
    expect(a.early).toBe(true);
    expect(early.has(A)).toBe(true);
    expect(early.take(B, X, 'n1')).toBeUndefined();
    expect(early.take(A, Y, 'n1')).toBeUndefined();
    expect(early.take(A, X, 'n2')).toBeUndefined();
    expect(early.take(A, X, 'n1')).toBe(a);
    expect(early.take(A, X, 'n1')).toBeUndefined();
    expect(early.has(A)).toBe(false);
    expect(early.size).toBe(0);
  });

  it('refuses the same recipient and id again, from either sender, waiting or queued', () => {
    const { early } = setup();
    expect(early.add(pa('n1', X, A), 0)).toBe(true);
    expect(early.add(pa('n1', X, A), 0)).toBe(false);
    expect(early.add(pa('n1', Y, A), 0)).toBe(false);
    expect(early.add(pa('n1', X, B), 0)).toBe(true); // another recipient
    expect(early.takeFor(new Set([A])).map((a) => a.n.id)).toEqual(['n1']);
    expect(early.add(pa('n1', Y, A), 0)).toBe(false); // queued for a batch
    expect(early.size).toBe(1);
  });

  it('due ones leave in accept order across recipients, skipping the acked ones; later ones wait', () => {
    const { clock, due, early } = setup();
    const t0 = clock.now();
    const list = [pa('1', X, A), pa('2', X, B), pa('3', Y, A), pa('4', Y, B)];
    for (const a of list) early.add(a, t0);
    early.take(B, X, '2');
    clock.advance(5);
    const late = pa('5', X, A);
    early.add(late, clock.now());
    clock.advance(WAIT - 5);
    expect(due.map((d) => d.map((a) => a.n.id))).toEqual([['1', '3', '4']]);
    expect(early.size).toBe(1);
    clock.advance(5);
    expect(due.map((d) => d.map((a) => a.n.id))).toEqual([['1', '3', '4'], ['5']]);
    expect(early.size).toBe(0);
  });

  it('an ack of a due one still queued cancels its write; committing leaves it out', () => {
    const { clock, due, early } = setup();
    const a = pa('1', X, A);
    const b = pa('2', X, A);
    early.add(a, clock.now());
    early.add(b, clock.now());
    clock.advance(WAIT);
    expect(due.flat()).toEqual([a, b]);
    expect(early.take(A, X, '1')).toBe(a);
    expect(a.cancelled).toBe(true);
    expect(early.committing([a, b], new Set())).toEqual([b]);
    // Written now: an ack from here on is an ordinary removal.
    expect(early.take(A, X, '2')).toBeUndefined();
  });

  it('thousands accepted, most acked at once: each unacked one falls due once, in order, and nothing is left', () => {
    const { clock, due, early } = setup();
    for (let i = 0; i < 5_000; i++) {
      early.add(pa(`n${i}`, X, A), clock.now());
      if (i % 7 !== 0) early.take(A, X, `n${i}`);
      if (i % 100 === 0) clock.advance(1);
    }
    // The unacked ones (every 7th) came out as they fell due, and the rest do now.
    clock.advance(WAIT + 100);
    expect(due.flat()).toHaveLength(Math.ceil(5_000 / 7));
    expect(due.flat().map((a) => Number(a.n.id.slice(1)))).toEqual(
      [...due.flat().map((a) => Number(a.n.id.slice(1)))].sort((p, q) => p - q),
    );
    expect(early.size).toBe(0);
  });
});
