/**
 * Receiver-side dedupe: the server delivers at least once; the application must see each
 * notification once. A notification is identified by (sender, id): ids are chosen by senders, so
 * two senders may use the same one (and a hostile peer may use an id it expects another sender
 * to use, issue 8 finding 9) — deduping by id alone would swallow the other sender's real
 * notification. Remembers the last `capacity` (sender, id) pairs (insertion order, oldest
 * forgotten first) with their state: `queued` (waiting for the application) or `consumed` (handed over,
 * acked). A redelivery of a consumed id is acked again (the first ack may have been lost); a
 * redelivery of a queued id is dropped (it will be acked when consumed).
 */
export type SeenState = 'queued' | 'consumed';

/** Unambiguous for any strings: the sender's length first, so no separator can be forged. */
function keyOf(from: string, id: string): string {
  return `${from.length}:${from}${id}`;
}

export class Dedupe {
  readonly #seen = new Map<string, SeenState>();
  readonly #capacity: number;

  constructor(capacity = 100_000) {
    if (!(capacity >= 1)) throw new RangeError('capacity must be >= 1');
    this.#capacity = capacity;
  }

  get size(): number {
    return this.#seen.size;
  }

  /**
   * State of (`from`, `id`) if seen before; otherwise records it as queued and returns
   * undefined.
   */
  check(from: string, id: string): SeenState | undefined {
    const key = keyOf(from, id);
    const s = this.#seen.get(key);
    if (s) return s;
    this.#seen.set(key, 'queued');
    while (this.#seen.size > this.#capacity) {
      const oldest = this.#seen.keys().next().value;
      if (oldest === undefined) break;
      this.#seen.delete(oldest);
    }
    return undefined;
  }

  consumed(from: string, id: string): void {
    const key = keyOf(from, id);
    if (this.#seen.has(key)) this.#seen.set(key, 'consumed');
  }
}
