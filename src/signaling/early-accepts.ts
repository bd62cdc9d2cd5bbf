/**
 * Notifications sent to their recipient before they are written: the fast path of the group
 * commit (mailbox.ts `accept`) for a recipient that is online here with room in its window.
 *
 * Such a notification waits here, unwritten, for up to `earlyAckMs`. If the recipient's
 * end-to-end ack comes first, the notification has reached the recipient's application: it is
 * never written (nor deleted), and `accepted` goes out at the ack — no SQLite statement and no
 * fsync for it. Otherwise it joins a batch like any other accept and `accepted` waits for that
 * batch's fsync, as before. Either way `accepted` (the 202) means "it cannot be lost any more":
 * on stable storage, or already in the recipient's hands (README, "What each answer means").
 *
 * An early notification is sent only within the quotas (what the write would refuse is not sent
 * first). If its write does fail (a full disk), it is refused like any other — the sender may
 * retry, and the recipient, which may have it already, drops the copy by id.
 *
 * Per-sender order (mailbox order) is kept by three rules, enforced by mailbox.ts:
 * - a recipient with unsent accepts queued for the next batch takes no early ones until that
 *   batch is committed (they would overtake the queued ones);
 * - a batch writes, per recipient, its early ones first (those queued, then those still waiting
 *   for their ack), then the rest, each in accept order (`committing`): every early one is older
 *   than any unsent one of the same recipient, so seqs follow the order they were sent in;
 * - a recipient whose session starts or ends has its early ones moved to the next batch
 *   (`takeFor` from `settle`), so a new session finds them in the mailbox.
 */
import type { Clock, TimerHandle } from '../util/clock.js';
import type { PendingAccept } from './mailbox-batch.js';

interface Early {
  a: PendingAccept;
  /** Clock time it was accepted: written at `at + earlyAckMs` at the latest. */
  at: number;
}

/** The key of one notification: ids are unique per (sender, recipient) only. */
function key(to: string, from: string, id: string): string {
  return `${to}\n${from}\n${id}`;
}

export class EarlyAccepts {
  /**
   * Waiting for the ack, in accept order (so `at` grows along the map). Bound: each entry is a
   * notification in flight on a delivery route (delivery-route.ts `sendEarly` sends only into a
   * window with room), so at most routes × `deliveryWindow`; each lives at most `waitMs`.
   */
  readonly #items = new Map<string, Early>();
  /**
   * Handed to the mailbox's queue (`take*`) but not yet in a transaction: an ack that comes
   * meanwhile still cancels the write (`take`). Bound: the same entries, moved; emptied by
   * `committing` at the next batch.
   */
  readonly #queued = new Map<string, PendingAccept>();
  /** Waiting entries per recipient (the same entries, counted): answers `has` without a scan. */
  readonly #perTo = new Map<string, number>();
  #timer: TimerHandle | undefined;

  /**
   * `onDue` gets, in accept order, the entries whose `waitMs` has passed unacked: they go to the
   * next batch.
   */
  constructor(
    private readonly clock: Clock,
    readonly waitMs: number,
    private readonly onDue: (due: PendingAccept[]) => void,
  ) {}

  /** Entries waiting for their ack. */
  get size(): number {
    return this.#items.size;
  }

  /** Add `a`; false when the same (to, from, id) is already here (the caller queues it). */
  add(a: PendingAccept, at: number): boolean {
    const k = key(a.n.to, a.n.from, a.n.id);
    if (this.#items.has(k) || this.#queued.has(k)) return false;
    a.early = true;
    this.#items.set(k, { a, at });
    this.#perTo.set(a.n.to, (this.#perTo.get(a.n.to) ?? 0) + 1);
    this.#arm();
    return true;
  }

  /**
   * The recipient acked it: remove and return it (undefined when not here). One already queued
   * for a batch is marked `cancelled`, and the batch leaves it out (`committing`).
   */
  take(to: string, from: string, id: string): PendingAccept | undefined {
    const k = key(to, from, id);
    const e = this.#items.get(k);
    if (e) {
      this.#items.delete(k);
      this.#uncount(to);
      return e.a;
    }
    const q = this.#queued.get(k);
    if (!q) return undefined;
    this.#queued.delete(k);
    q.cancelled = true;
    return q;
  }

  has(to: string): boolean {
    return this.#perTo.has(to);
  }

  /** Queue, in accept order, every waiting entry for one of `tos`. */
  takeFor(tos: ReadonlySet<string>): PendingAccept[] {
    return this.#move((e) => tos.has(e.a.n.to));
  }

  /** Queue, in accept order, the waiting entries accepted at or before `cutoff`. */
  takeDue(cutoff: number): PendingAccept[] {
    return this.#move((e) => e.at <= cutoff, true);
  }

  /** Queue everything, and stop the timer (shutdown). */
  takeAll(): PendingAccept[] {
    this.#timer?.cancel();
    this.#timer = undefined;
    return this.#move(() => true);
  }

  /**
   * `batch` goes into a transaction now: an ack from here on is applied after it, like any
   * other. Returns what to write, in order: the batch's early ones not cancelled by an ack while
   * they were queued, then the waiting ones of `unsentTos` (recipients with unsent accepts in
   * the batch, which they are older than), then the unsent ones. Cross-recipient order is free.
   */
  committing(batch: PendingAccept[], unsentTos: ReadonlySet<string>): PendingAccept[] {
    let forced: PendingAccept[] = [];
    for (const to of unsentTos) {
      if (!this.#perTo.has(to)) continue;
      forced = this.#move((e) => unsentTos.has(e.a.n.to), false, false);
      break;
    }
    if (forced.length === 0 && !batch.some((a) => a.early)) return batch;
    const early: PendingAccept[] = [];
    const unsent: PendingAccept[] = [];
    for (const a of batch) {
      if (!a.early) {
        unsent.push(a);
        continue;
      }
      this.#queued.delete(key(a.n.to, a.n.from, a.n.id));
      if (!a.cancelled) early.push(a);
    }
    return early.concat(forced, unsent);
  }

  /**
   * Take the waiting entries `pick` selects, into #queued unless `queue` is false (they go into
   * a transaction at once); `ordered`: stop at the first one not picked.
   */
  #move(pick: (e: Early) => boolean, ordered = false, queue = true): PendingAccept[] {
    const out: PendingAccept[] = [];
    for (const [k, e] of this.#items) {
      if (!pick(e)) {
        if (ordered) break;
        continue;
      }
      this.#items.delete(k);
      this.#uncount(e.a.n.to);
      if (queue) this.#queued.set(k, e.a);
      out.push(e.a);
    }
    return out;
  }

  /** One timer, for the oldest entry; re-armed for the next oldest when it fires. */
  #arm(): void {
    if (this.#timer) return;
    let oldest: number | undefined;
    for (const e of this.#items.values()) {
      oldest = e.at;
      break;
    }
    if (oldest === undefined) return;
    const delay = Math.max(0, oldest + this.waitMs - this.clock.now());
    this.#timer = this.clock.setTimeout(() => {
      this.#timer = undefined;
      const due = this.takeDue(this.clock.now() - this.waitMs);
      this.#arm();
      if (due.length > 0) this.onDue(due);
    }, delay);
  }

  #uncount(to: string): void {
    const n = (this.#perTo.get(to) ?? 1) - 1;
    if (n > 0) this.#perTo.set(to, n);
    else this.#perTo.delete(to);
  }
}
