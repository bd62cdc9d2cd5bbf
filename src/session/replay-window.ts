/**
 * Sliding anti-replay window over 64-bit message counters (RFC 6479's bitmap, as WireGuard's
 * whitepaper §5.4.6 uses it). Datagrams arrive lost and reordered, so the receiver accepts any
 * counter it has not seen that is no older than `size` below the highest authenticated one.
 *
 * `check` before decrypting (cheap reject), `accept` only after the AEAD verified the message —
 * otherwise a forged counter could slide the window and make genuine messages look old.
 */
export const REPLAY_WINDOW_SIZE = 2048;

export class ReplayWindow {
  readonly size: number;
  #top = -1;
  readonly #bits: Uint32Array;

  /**
   * `size` (a multiple of 32): how far behind the newest message a late one is still accepted.
   * 2048 as WireGuard's Linux implementation: at 1200-byte datagrams that tolerates ~2.4 MB of
   * reordering, far beyond what a path swap (relay → direct) or a burst of retransmissions produces.
   */
  constructor(size = REPLAY_WINDOW_SIZE) {
    if (!Number.isInteger(size) || size <= 0 || size % 32 !== 0)
      throw new RangeError('replay window size must be a positive multiple of 32');
    this.size = size;
    this.#bits = new Uint32Array(size / 32);
  }

  /** Highest counter accepted so far (−1 before the first). */
  get highest(): number {
    return this.#top;
  }

  /** True when `n` is neither a duplicate nor older than the window. Records nothing. */
  check(n: number): boolean {
    if (n > this.#top) return true;
    if (this.#top - n >= this.size) return false;
    return !this.#get(n);
  }

  /** Record `n` as seen (call after authentication). */
  accept(n: number): void {
    if (n > this.#top) {
      if (n - this.#top >= this.size) this.#bits.fill(0);
      else for (let i = this.#top + 1; i <= n; i++) this.#clear(i);
      this.#top = n;
    }
    this.#set(n);
  }

  #get(n: number): boolean {
    const bit = n % this.size;
    return (this.#bits[bit >>> 5]! & (1 << (bit & 31))) !== 0;
  }

  #set(n: number): void {
    const bit = n % this.size;
    this.#bits[bit >>> 5]! |= 1 << (bit & 31);
  }

  #clear(n: number): void {
    const bit = n % this.size;
    this.#bits[bit >>> 5]! &= ~(1 << (bit & 31));
  }
}
