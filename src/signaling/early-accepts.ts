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
  /** Taken (acked, or moved to a batch): a tombstone in `#order` until the head passes it. */
  gone: boolean;
}

/**
 * Entries by recipient, then id (one per id: ids are unique per (sender, recipient) only, so the
 * sender is checked on lookup, and a second sender's same id is simply not taken early). Nested
 * rather than one `to\nfrom\nid` key: that key was a new ~80-character string to build and hash
 * at every accept and every ack, 3–5 % of serve's busy time (bench/signaling-vs-ws --cpu-prof);
 * the recipient and id strings here were hashed already (presence, the route's in-flight map).
 */
class ByRecipient<T extends { a: PendingAccept } | PendingAccept> {
  readonly #m = new Map<string, Map<string, T>>();

  get(to: string, from: string, id: string): T | undefined {
    const e = this.#m.get(to)?.get(id);
    return e !== undefined && accept(e).n.from === from ? e : undefined;
  }

  /** Any entry for (to, id), whoever its sender. */
  hasId(to: string, id: string): boolean {
    return this.#m.get(to)?.has(id) ?? false;
  }

  set(e: T): void {
    const n = accept(e).n;
    let ids = this.#m.get(n.to);
    if (!ids) this.#m.set(n.to, (ids = new Map()));
    ids.set(n.id, e);
  }

  delete(e: T): void {
    const n = accept(e).n;
    const ids = this.#m.get(n.to);
    if (ids?.get(n.id) !== e) return;
    ids.delete(n.id);
    if (ids.size === 0) this.#m.delete(n.to);
  }

  has(to: string): boolean {
    return this.#m.has(to);
  }

  /** The recipient's entries, in the order they were set. */
  of(to: string): T[] {
    return [...(this.#m.get(to)?.values() ?? [])];
  }

  recipients(): string[] {
    return [...this.#m.keys()];
  }
}

function accept(e: { a: PendingAccept } | PendingAccept): PendingAccept {
  return 'a' in e ? e.a : e;
}

/** Tombstones at the head of `#order` are dropped in place; the array is compacted past this. */
const COMPACT_AT = 1024;

export class EarlyAccepts {
  /**
   * Waiting for the ack, by recipient and id. Bound: each entry is a notification in flight on a
   * delivery route (delivery-route.ts `sendEarly` sends only into a window with room), so at
   * most routes × `deliveryWindow`; each lives at most `waitMs`.
   */
  readonly #items = new ByRecipient<Early>();
  /**
   * The same entries in accept order (so `at` grows along it), taken ones left as tombstones
   * until the head passes them (`takeDue`, `#arm`). Bound: entries accepted within the last
   * `waitMs` plus the tombstones before the oldest waiting one, all younger than `waitMs`
   * when the timer runs: at most the accepts of `waitMs` (and compacted past COMPACT_AT).
   */
  #order: Early[] = [];
  #head = 0;
  #size = 0;
  /**
   * Handed to the mailbox's queue (`take*`) but not yet in a transaction: an ack that comes
   * meanwhile still cancels the write (`take`). Bound: the same entries, moved; emptied by
   * `committing` at the next batch.
   */
  readonly #queued = new ByRecipient<PendingAccept>();
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
    return this.#size;
  }

  /**
   * Add `a`; false when an entry with the same recipient and id is already here, waiting or
   * queued (the caller queues it: the same notification again, or another sender's same id).
   */
  add(a: PendingAccept, at: number): boolean {
    if (this.#items.hasId(a.n.to, a.n.id) || this.#queued.hasId(a.n.to, a.n.id)) return false;
    a.early = true;
    const e: Early = { a, at, gone: false };
    this.#items.set(e);
    this.#order.push(e);
    this.#size++;
    this.#arm();
    return true;
  }

  /**
   * The recipient acked it: remove and return it (undefined when not here). One already queued
   * for a batch is marked `cancelled`, and the batch leaves it out (`committing`).
   */
  take(to: string, from: string, id: string): PendingAccept | undefined {
    const e = this.#items.get(to, from, id);
    if (e) {
      this.#drop(e);
      return e.a;
    }
    const q = this.#queued.get(to, from, id);
    if (!q) return undefined;
    this.#queued.delete(q);
    q.cancelled = true;
    return q;
  }

  has(to: string): boolean {
    return this.#items.has(to);
  }

  /** Queue, per recipient in accept order, every waiting entry for one of `tos`. */
  takeFor(tos: ReadonlySet<string>): PendingAccept[] {
    return this.#moveRecipients(tos, true);
  }

  /** Queue, in accept order, the waiting entries accepted at or before `cutoff`. */
  takeDue(cutoff: number): PendingAccept[] {
    const out: PendingAccept[] = [];
    for (; this.#head < this.#order.length; this.#head++) {
      const e = this.#order[this.#head]!;
      if (e.gone) continue;
      if (e.at > cutoff) break;
      this.#move(e, true);
      out.push(e.a);
    }
    this.#compact();
    return out;
  }

  /** Queue everything (per recipient in accept order), and stop the timer (shutdown). */
  takeAll(): PendingAccept[] {
    this.#timer?.cancel();
    this.#timer = undefined;
    return this.#moveRecipients(this.#items.recipients(), true);
  }

  /**
   * `batch` goes into a transaction now: an ack from here on is applied after it, like any
   * other. Returns what to write, in order: the batch's early ones not cancelled by an ack while
   * they were queued, then the waiting ones of `unsentTos` (recipients with unsent accepts in
   * the batch, which they are older than), then the unsent ones. Cross-recipient order is free.
   */
  committing(batch: PendingAccept[], unsentTos: ReadonlySet<string>): PendingAccept[] {
    const forced = this.#moveRecipients(unsentTos, false);
    if (forced.length === 0 && !batch.some((a) => a.early)) return batch;
    const early: PendingAccept[] = [];
    const unsent: PendingAccept[] = [];
    for (const a of batch) {
      if (!a.early) {
        unsent.push(a);
        continue;
      }
      this.#queued.delete(a);
      if (!a.cancelled) early.push(a);
    }
    return early.concat(forced, unsent);
  }

  /** Take every waiting entry of `tos`, per recipient in accept order (see `#move`). */
  #moveRecipients(tos: Iterable<string>, queue: boolean): PendingAccept[] {
    const out: PendingAccept[] = [];
    for (const to of tos) {
      if (!this.#items.has(to)) continue;
      for (const e of this.#items.of(to)) {
        this.#move(e, queue);
        out.push(e.a);
      }
    }
    return out;
  }

  /** Take a waiting entry: into #queued unless `queue` is false (it goes into a transaction at once). */
  #move(e: Early, queue: boolean): void {
    this.#drop(e);
    if (queue) this.#queued.set(e.a);
  }

  #drop(e: Early): void {
    this.#items.delete(e);
    e.gone = true;
    this.#size--;
  }

  /** Drop the head's tombstones; compact the array once the dead prefix is long. */
  #compact(): void {
    while (this.#head < this.#order.length && this.#order[this.#head]!.gone) this.#head++;
    if (this.#head === this.#order.length) {
      this.#order = [];
      this.#head = 0;
    } else if (this.#head >= COMPACT_AT && this.#head * 2 >= this.#order.length) {
      this.#order = this.#order.slice(this.#head);
      this.#head = 0;
    }
  }

  /** One timer, for the oldest entry; re-armed for the next oldest when it fires. */
  #arm(): void {
    if (this.#timer) return;
    this.#compact();
    const oldest = this.#order[this.#head]?.at;
    if (oldest === undefined) return;
    const delay = Math.max(0, oldest + this.waitMs - this.clock.now());
    this.#timer = this.clock.setTimeout(() => {
      this.#timer = undefined;
      const due = this.takeDue(this.clock.now() - this.waitMs);
      this.#arm();
      if (due.length > 0) this.onDue(due);
    }, delay);
  }
}
