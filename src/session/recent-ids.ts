/**
 * The last `capacity` notification ids a channel delivered, oldest forgotten first. The session
 * layer keeps its own (rather than src/peer/dedupe.ts) so it does not depend on the peer layer
 * above it; the Peer dedupes across rungs with its own table.
 *
 * A Set for lookups plus a ring of the same ids for eviction order: evicting through
 * `set.values().next()` built an iterator per delivered notification (1.6 µs of a 100-byte
 * flood's receive cost in a profile); the ring makes it an array read.
 */
export class RecentIds {
  readonly #ids = new Set<string>();
  /** Bound: `capacity` entries (the ring is allocated once). */
  readonly #ring: (string | undefined)[];
  #next = 0;
  readonly #capacity: number;

  constructor(capacity: number) {
    if (!(capacity >= 1)) throw new RangeError('capacity must be >= 1');
    this.#capacity = capacity;
    this.#ring = new Array<string | undefined>(capacity).fill(undefined);
  }

  get size(): number {
    return this.#ids.size;
  }

  /** True if `id` was seen (a duplicate); otherwise records it and returns false. */
  seen(id: string): boolean {
    if (this.#ids.has(id)) return true;
    const oldest = this.#ring[this.#next];
    if (oldest !== undefined) this.#ids.delete(oldest);
    this.#ring[this.#next] = id;
    this.#next = (this.#next + 1) % this.#capacity;
    this.#ids.add(id);
    return false;
  }
}
