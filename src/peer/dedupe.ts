/**
 * Receiver-side dedupe: the server delivers at least once; the application must see each
 * notification once. Remembers the last `capacity` ids (insertion order, oldest forgotten
 * first) with their state: `queued` (waiting for the application) or `consumed` (handed over,
 * acked). A redelivery of a consumed id is acked again (the first ack may have been lost); a
 * redelivery of a queued id is dropped (it will be acked when consumed).
 */
export type SeenState = 'queued' | 'consumed';

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

  /** State of `id` if seen before; otherwise records it as queued and returns undefined. */
  check(id: string): SeenState | undefined {
    const s = this.#seen.get(id);
    if (s) return s;
    this.#seen.set(id, 'queued');
    while (this.#seen.size > this.#capacity) {
      const oldest = this.#seen.keys().next().value;
      if (oldest === undefined) break;
      this.#seen.delete(oldest);
    }
    return undefined;
  }

  consumed(id: string): void {
    if (this.#seen.has(id)) this.#seen.set(id, 'consumed');
  }
}
