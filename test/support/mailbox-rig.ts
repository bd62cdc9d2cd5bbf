/**
 * A Mailbox and its Delivery on a ManualClock and an in-memory store, for the unit tests of the
 * group commit and delivery paths (early-accepts, delivered during an fsync, read ahead): the
 * store counts its writes and mailbox reads and can hold its fsyncs, a session records what it
 * was offered, and `order` records `accepted <id>` and `delivered <id>` as the sender would hear
 * them.
 */
import { Delivery, type PeerSession } from '../../src/signaling/delivery.js';
import { Mailbox } from '../../src/signaling/mailbox.js';
import { Metrics, signalingMetrics } from '../../src/signaling/metrics.js';
import type { Notification } from '../../src/signaling/protocol.js';
import type { InsertResult, NewNotification } from '../../src/signaling/store/store.js';
import { MemoryStore } from '../../src/signaling/store/memory-store.js';
import { ManualClock } from '../../src/util/clock.js';
import { silentLogger } from '../../src/util/logger.js';

/** Peer ids: A sends, B (and C) receive. */
export const A = 'a'.repeat(32);
export const B = 'b'.repeat(32);
export const C = 'c'.repeat(32);

/**
 * A memory store that records the ids it inserts (`inserted`), counts its mailbox reads
 * (`reads`), and while held (`hold()`) keeps every fsync running until `release()`.
 */
export class RigStore extends MemoryStore {
  inserted: string[] = [];
  reads = 0;
  #holding = false;
  #held: (() => void)[] = [];
  override insert(n: NewNotification): InsertResult {
    this.inserted.push(n.id);
    return super.insert(n);
  }
  override pending(to: string, afterSeq: number, limit: number, now: number) {
    this.reads++;
    return super.pending(to, afterSeq, limit, now);
  }
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

/** A recipient's session that takes every offer and records it in `got`. */
export class RecordingSession implements PeerSession {
  readonly transport = 'websocket' as const;
  got: Notification[] = [];
  constructor(readonly peer: string) {}
  offer(n: Notification): boolean {
    this.got.push(n);
    return true;
  }
  close(): void {}
}

/** One turn of the event loop: lets settled promises' callbacks (accepted, delivered) run. */
export const immediate = (): Promise<void> => new Promise<void>((r) => setImmediate(r));

export interface RigOptions {
  /** Delivery window per recipient; default 4. */
  window?: number;
  /** Mailbox quota per recipient; default 100. */
  quota?: number;
  /** The fast path (early-accepts.ts); default off. */
  earlyAckMs?: number;
  /** Delivery's redelivery delay; default 60 s (no redelivery within a test's clock steps). */
  retryAfterMs?: number;
  /** Peers registered with the mailbox before the test starts. */
  register?: string[];
}

export function mailboxRig(o: RigOptions = {}) {
  const clock = new ManualClock(0);
  const store = new RigStore();
  const mailbox = new Mailbox({
    store,
    clock,
    logger: silentLogger,
    quota: o.quota ?? 100,
    maxDelayMs: 1,
    ...(o.earlyAckMs !== undefined ? { earlyAckMs: o.earlyAckMs } : {}),
  });
  for (const peer of o.register ?? []) mailbox.register(peer, 'pk');
  const delivery = new Delivery({
    mailbox,
    clock,
    logger: silentLogger,
    metrics: signalingMetrics(new Metrics()),
    window: o.window ?? 4,
    retryAfterMs: o.retryAfterMs ?? 60_000,
  });
  /** `accepted <id>` and `delivered <id>`, in the order the sender hears them. */
  const order: string[] = [];
  /** Ids reported delivered, in order. */
  const delivered: string[] = [];
  delivery.events = {
    delivered: (r) => {
      delivered.push(r.id);
      order.push(`delivered ${r.id}`);
    },
    presence: () => {},
  };
  /** Accept `id` from A (to B by default), expiring `ttlMs` from now. */
  const accept = (id: string, to = B, ttlMs = 60_000) => {
    const p = mailbox.accept({
      id,
      from: A,
      to,
      topic: '',
      body: id,
      ts: clock.now(),
      expires: clock.now() + ttlMs,
    });
    // A rejection is the caller's to see (it holds `p`); this record only follows success.
    p.then(
      () => order.push(`accepted ${id}`),
      () => {},
    );
    return p;
  };
  return { clock, store, mailbox, delivery, order, delivered, accept };
}

export type MailboxRig = ReturnType<typeof mailboxRig>;
