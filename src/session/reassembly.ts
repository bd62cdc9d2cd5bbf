/**
 * Reassembly of one sender's fragmented messages. The channel hands over data packets in pn
 * order (its receive buffer has already closed every gap), so a message is its fragments
 * 0 … count−1 in consecutive calls; anything else is a protocol error (a bug or version skew:
 * frames are authenticated). Bounded: at most one message is assembled at a time, and one larger
 * than `maxMessageBytes` (any legal notification's encoding) is dropped as it grows.
 */
import { fragmentOf, type Frame, type FrameType } from './reliable-frames.js';

type DataFrame = Frame & { type: typeof FrameType.DATA };

interface Assembly {
  count: number;
  next: number;
  parts: Uint8Array[];
  bytes: number;
}

export class Reassembler {
  readonly #maxMessageBytes: number;
  readonly #onError: () => void;
  #assembly: Assembly | undefined;

  constructor(maxMessageBytes: number, onError: () => void) {
    this.#maxMessageBytes = maxMessageBytes;
    this.#onError = onError;
  }

  /** Forget a partial message (the sender restarted or skipped ahead). */
  reset(): void {
    this.#assembly = undefined;
  }

  /**
   * A whole message in one packet (every small notification): true if it may be decoded in
   * place (`f.bytes[f.start, f.end)`), with no assembly state and no copy.
   */
  whole(f: DataFrame): boolean {
    if (this.#assembly) {
      this.#onError(); // previous message never finished
      this.#assembly = undefined;
    }
    if (f.end - f.start > this.#maxMessageBytes) {
      this.#onError();
      return false;
    }
    return true;
  }

  /**
   * Take the next in-order packet of a fragmented message (fragCount > 1; `whole` takes the
   * rest); the whole message when it was the last fragment.
   */
  push(f: DataFrame): Buffer | undefined {
    if (f.fragIndex === 0) {
      if (this.#assembly) this.#onError(); // previous message never finished
      this.#assembly = { count: f.fragCount, next: 0, parts: [], bytes: 0 };
    }
    const a = this.#assembly;
    if (!a || f.fragIndex !== a.next || f.fragCount !== a.count) {
      this.#onError();
      this.#assembly = undefined;
      return undefined;
    }
    const fragment = fragmentOf(f);
    a.bytes += fragment.length;
    if (a.bytes > this.#maxMessageBytes) {
      this.#onError();
      this.#assembly = undefined;
      return undefined;
    }
    a.parts.push(fragment);
    a.next++;
    if (a.next < a.count) return undefined;
    this.#assembly = undefined;
    return Buffer.concat(a.parts);
  }
}
