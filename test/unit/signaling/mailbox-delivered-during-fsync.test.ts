/**
 * `delivered` while an fsync runs (mailbox-fsync.ts): held only for notifications that
 * fsync is making durable — a sender never hears `delivered` before `accepted` — and sent at
 * once for those an earlier, finished fsync made durable (accepted already).
 */
import { describe, expect, it } from 'vitest';
import { Delivery, type PeerSession } from '../../../src/signaling/delivery.js';
import { Mailbox } from '../../../src/signaling/mailbox.js';
import { Metrics, signalingMetrics } from '../../../src/signaling/metrics.js';
import type { Notification } from '../../../src/signaling/protocol.js';
import { MemoryStore } from '../../../src/signaling/store/memory-store.js';
import { ManualClock } from '../../../src/util/clock.js';
import { silentLogger } from '../../../src/util/logger.js';

const A = 'a'.repeat(32);
const B = 'b'.repeat(32);

/** `hold()` keeps the next fsyncs running until `release()`. */
class HoldingStore extends MemoryStore {
  #holding = false;
  #held: (() => void)[] = [];
  sync(): Promise<void> {
    if (!this.#holding) return Promise.resolve();
    return new Promise((r) => this.#held.push(r));
  }
  hold(): void {
    this.#holding = true;
  }
  release(): void {
    this.#holding = false;
    for (const r of this.#held.splice(0)) r();
  }
}

class Session implements PeerSession {
  readonly transport = 'websocket' as const;
  got: Notification[] = [];
  constructor(readonly peer: string) {}
  offer(n: Notification): boolean {
    this.got.push(n);
    return true;
  }
  close(): void {}
}

const immediate = () => new Promise<void>((r) => setImmediate(r));

function setup() {
  const clock = new ManualClock(0);
  const store = new HoldingStore();
  const mailbox = new Mailbox({ store, clock, logger: silentLogger, quota: 100, maxDelayMs: 1 });
  const delivery = new Delivery({
    mailbox,
    clock,
    logger: silentLogger,
    metrics: signalingMetrics(new Metrics()),
    window: 4,
    retryAfterMs: 60_000,
  });
  const order: string[] = [];
  delivery.events = { delivered: (r) => order.push(`delivered ${r.id}`), presence: () => {} };
  const accept = (id: string) =>
    mailbox
      .accept({ id, from: A, to: B, topic: '', body: id, ts: 0, expires: 60_000 })
      .then(() => order.push(`accepted ${id}`));
  return { clock, store, delivery, order, accept };
}

describe('Mailbox: delivered during an fsync', () => {
  it('goes at once for a notification an earlier fsync made durable, waits for one in this fsync', async () => {
    const { clock, store, delivery, order, accept } = setup();
    const s = new Session(B);
    delivery.attach(s);
    const first = accept('n1');
    await clock.advanceAsync(1);
    await first;
    expect(order).toEqual(['accepted n1']);
    store.hold(); // the next batch's fsync runs until release()
    const second = accept('n2');
    await clock.advanceAsync(1);
    expect(s.got.map((n) => n.id)).toEqual(['n1', 'n2']); // delivered at the commit
    // Both acked while n2's fsync runs.
    delivery.ack(B, ['n1', 'n2'], 'websocket');
    await clock.advanceAsync(1);
    await immediate();
    expect(order).toEqual(['accepted n1', 'delivered n1']); // n1: at once; n2: not accepted yet
    store.release();
    await second;
    await immediate();
    expect(order).toEqual(['accepted n1', 'delivered n1', 'accepted n2', 'delivered n2']);
  });
});
