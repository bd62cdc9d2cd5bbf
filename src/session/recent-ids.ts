/**
 * The last `capacity` notification ids a channel delivered, oldest forgotten first. The session
 * layer keeps its own (rather than src/peer/dedupe.ts) so it does not depend on the peer layer
 * above it; the Peer dedupes across rungs with its own table.
 */
export class RecentIds {
  readonly #ids = new Set<string>();
  readonly #capacity: number;

  constructor(capacity: number) {
    if (!(capacity >= 1)) throw new RangeError('capacity must be >= 1');
    this.#capacity = capacity;
  }

  get size(): number {
    return this.#ids.size;
  }

  /** True if `id` was seen (a duplicate); otherwise records it and returns false. */
  seen(id: string): boolean {
    if (this.#ids.has(id)) return true;
    this.#ids.add(id);
    if (this.#ids.size > this.#capacity) {
      const oldest = this.#ids.values().next().value;
      if (oldest !== undefined) this.#ids.delete(oldest);
    }
    return false;
  }
}
