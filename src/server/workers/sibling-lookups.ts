/**
 * The primary's side of the sibling lookups (relay/server/siblings.ts SiblingExchange.lookup):
 * a worker asks whose allocation a relayed port is; the primary asks every other ready worker's
 * registry (the truth: the mirrors lag an Allocate by one IPC hop) and answers the asker with
 * the first worker that holds it, or with none once each asked worker said no or died. Pure
 * bookkeeping: pool.ts does the sending.
 *
 * Bounded: at most `max` lookups in flight (each worker keeps at most relay constants'
 * MAX_SIBLING_LOOKUPS open); a table this full means answers stopped coming, and the oldest is
 * answered "none" to make room.
 */
import type { SiblingState } from '../../relay/server/siblings.js';

/** A lookup that is over: answer `asker`'s question `id` with `found` (none: undefined). */
export interface LookupDone<W> {
  asker: W;
  id: number;
  found: [W, SiblingState] | undefined;
}

export class SiblingLookups<W> {
  readonly #open = new Map<number, { asker: W; id: number; waiting: Set<W> }>();
  #next = 0;

  constructor(readonly max: number) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError('max must be an integer >= 1');
  }

  get size(): number {
    return this.#open.size;
  }

  /**
   * `asker` asks (its id `id`) of `asked`: returns the key to send them with, and the lookups
   * finished to make room; with nobody to ask, the lookup is over at once (key undefined).
   */
  ask(asker: W, id: number, asked: readonly W[]): { key?: number; done: LookupDone<W>[] } {
    if (asked.length === 0) return { done: [{ asker, id, found: undefined }] };
    const done: LookupDone<W>[] = [];
    if (this.#open.size >= this.max) {
      const [oldest] = this.#open.keys();
      done.push(this.#finish(oldest!, undefined)!);
    }
    const key = ++this.#next;
    this.#open.set(key, { asker, id, waiting: new Set(asked) });
    return { key, done };
  }

  /** Worker `from` answered lookup `key`: its state, or undefined (not its port). */
  answer(from: W, key: number, state: SiblingState | undefined): LookupDone<W> | undefined {
    const l = this.#open.get(key);
    if (l === undefined || !l.waiting.delete(from)) return undefined;
    if (state !== undefined) return this.#finish(key, [from, state]);
    return l.waiting.size === 0 ? this.#finish(key, undefined) : undefined;
  }

  /** Worker `w` died: lookups that waited only for it are over (none). */
  exited(w: W): LookupDone<W>[] {
    const done: LookupDone<W>[] = [];
    for (const [key, l] of [...this.#open]) {
      if (l.waiting.delete(w) && l.waiting.size === 0) done.push(this.#finish(key, undefined)!);
    }
    return done;
  }

  #finish(key: number, found: [W, SiblingState] | undefined): LookupDone<W> | undefined {
    const l = this.#open.get(key);
    if (l === undefined) return undefined;
    this.#open.delete(key);
    return { asker: l.asker, id: l.id, found };
  }
}
