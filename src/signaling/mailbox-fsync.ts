/**
 * A local store's running fsync, as the group commit (mailbox.ts) sees it: whether one runs, the
 * lowest seq it answers an accept for, and the `delivered`s held until it ends.
 *
 * Delivery starts at the commit, beside the fsync (mailbox.ts #flushLocal), so an ack can remove
 * a notification whose fsync still runs. Its `delivered` is held until that fsync ends, so a
 * sender never hears `delivered` before `accepted`. Bound: acks applied during one fsync (each
 * names a notification in flight, ≤ deliveryWindow per online peer).
 *
 * Only those: a notification whose seq (known from the route's in-flight entry) is below every
 * seq the running fsync answers for was written by an earlier batch, whose fsync ended — and
 * whose `accepted` went out — before this one began (one fsync at a time, and a batch waits for
 * the previous fsync, mailbox.ts #schedule). Its `delivered` goes now. Holding it made a
 * recipient's ack wait for the next batch's fsync (10–80 ms on this shared disk) before the
 * sender heard of it, which, with a window of outstanding notifications, was the rate of the
 * written path.
 */
import type { Removed } from './store/store.js';

export class FsyncWindow {
  readonly #emit: (removed: Removed[]) => void;
  #running = false;
  /**
   * The lowest seq the running fsync answers an accept for (inserted or duplicate): a
   * notification below it was accepted before that fsync began.
   */
  #from = Infinity;
  /** `delivered`s held while the fsync runs. */
  #held: Removed[] = [];

  /** `emit` hands removals on (the mailbox's `onRemoved`). */
  constructor(emit: (removed: Removed[]) => void) {
    this.#emit = emit;
  }

  get running(): boolean {
    return this.#running;
  }

  /** An fsync starts; it answers the accepts of `seqs` (and those of one still running). */
  begin(seqs: Iterable<number>): void {
    let from = this.#running ? this.#from : Infinity;
    for (const seq of seqs) from = Math.min(from, seq);
    this.#from = from;
    this.#running = true;
  }

  /**
   * Acks applied: hand on what they removed, holding what the running fsync may still be making
   * durable. `seqs[i]` is `removed[i]`'s seq if the ack knew it, else 0.
   */
  removed(removed: Removed[], seqs: readonly number[]): void {
    if (!this.#running) return this.#emit(removed);
    const now: Removed[] = [];
    removed.forEach((r, i) => {
      const seq = seqs[i] ?? 0;
      if (seq > 0 && seq < this.#from) now.push(r);
      else this.#held.push(r);
    });
    if (now.length > 0) this.#emit(now);
  }

  /**
   * The fsync ended: release the held `delivered`s. On the next tick, so that the `accepted`
   * frames its accepts resolved (a few promise hops away) are written first.
   */
  end(): void {
    this.#running = false;
    this.#from = Infinity;
    if (this.#held.length === 0) return;
    const held = this.#held;
    this.#held = [];
    process.nextTick(() => this.#emit(held));
  }
}
