/**
 * Splits a TCP/TLS byte stream from a TURN client into STUN messages and ChannelData messages
 * (RFC 8656 §12.5; the stream carries self-delimiting frames back to back, which is the RFC 4571
 * idea with the lengths the two formats already carry). The first two bits tell the frame type
 * (RFC 7983): 0b00 STUN (20-byte header + Length), 0b01 ChannelData (4-byte header + Length, padded
 * to 4). Anything else is a framing error and the connection must be closed: there is no way to
 * resynchronise a stream.
 *
 * Bounded: holds at most one partial frame, and a frame is at most `maxFrameBytes` (by default
 * MAX_STREAM_FRAME_BYTES, the largest the two formats can express).
 */
import { NatpushError } from '../util/errors.js';
import { MAX_STREAM_FRAME_BYTES } from './constants.js';
import { TURN_ERR } from './errors.js';

export type StreamFrameKind = 'stun' | 'channel-data';

export type FrameListener = (frame: Uint8Array, kind: StreamFrameKind) => void;

const STUN_HEADER_BYTES = 20;

export class StreamFramingError extends NatpushError {
  constructor(message: string) {
    super(TURN_ERR.FRAMING, message);
    this.name = 'StreamFramingError';
  }
}

/** Frame size (with padding) from the first 4 bytes, or -1 if the first byte cannot start a frame. */
export function frameSize(head: Uint8Array, offset = 0): number {
  const b0 = head[offset]!;
  const len = (head[offset + 2]! << 8) | head[offset + 3]!;
  const top = b0 >>> 6;
  if (top === 0) return STUN_HEADER_BYTES + len; // RFC 8489 §5: Length is a multiple of 4
  if (top === 1) return (4 + len + 3) & ~3;
  return -1;
}

export class StreamDeframer {
  readonly #onFrame: FrameListener;
  readonly #maxFrame: number;
  /** Holds at most one partial frame, so its size is bounded by `maxFrameBytes`. Caveat: the
   *  fast path hands out views of the caller's chunk, which the caller must not reuse. */
  #buf = new Uint8Array(256);
  #held = 0;
  #failed = false;

  constructor(onFrame: FrameListener, maxFrameBytes = MAX_STREAM_FRAME_BYTES) {
    if (!Number.isInteger(maxFrameBytes) || maxFrameBytes < 20) {
      throw new RangeError('maxFrameBytes must be an integer >= 20');
    }
    this.#onFrame = onFrame;
    this.#maxFrame = maxFrameBytes;
  }

  /** Bytes held waiting for the rest of a frame (never more than one frame). */
  get buffered(): number {
    return this.#held;
  }

  /**
   * Feed bytes from the stream. Calls the listener once per complete frame with a view that
   * stays valid (the chunk's bytes, or a reassembly buffer that is not reused). Throws StreamFramingError on a byte that cannot start a frame, a
   * STUN length that is not a multiple of 4, or a frame above `maxFrameBytes`; the caller then
   * closes the connection.
   */
  push(chunk: Uint8Array): void {
    if (this.#failed) throw new StreamFramingError('stream already failed framing');
    let off = 0;
    while (off < chunk.length) {
      if (this.#held === 0) {
        // Fast path: parse whole frames straight out of the chunk without copying.
        off = this.#drain(chunk, off);
        if (off < chunk.length) this.#append(chunk.subarray(off));
        return;
      }
      const need = this.#held < 4 ? 4 - this.#held : this.#check(this.#buf, 0) - this.#held;
      const take = Math.min(need, chunk.length - off);
      this.#append(chunk.subarray(off, off + take));
      off += take;
      if (this.#held >= 4 && this.#held === this.#check(this.#buf, 0)) {
        // Hand the reassembly buffer over with the frame and start a new one, so every frame
        // stays valid after the call (the server may answer asynchronously, dgram may queue).
        const frame = this.#buf;
        const size = this.#held;
        this.#buf = new Uint8Array(256);
        this.#held = 0;
        this.#emit(frame, 0, size);
      }
    }
  }

  /** Emit every whole frame in data[from..]; returns the offset of the first unconsumed byte. */
  #drain(data: Uint8Array, from: number): number {
    let off = from;
    while (data.length - off >= 4) {
      const size = this.#check(data, off);
      if (data.length - off < size) break;
      this.#emit(data, off, size);
      off += size;
    }
    return off;
  }

  /** Size of the frame starting at data[off] (4 bytes present), or throw a framing error. */
  #check(data: Uint8Array, off: number): number {
    const size = frameSize(data, off);
    if (size < 0) this.#fail(`byte 0x${data[off]!.toString(16)} cannot start a TURN frame`);
    if (data[off]! >>> 6 === 0 && data[off + 3]! % 4 !== 0) {
      this.#fail('STUN message length not a multiple of 4');
    }
    if (size > this.#maxFrame) this.#fail(`frame of ${size} bytes exceeds ${this.#maxFrame}`);
    return size;
  }

  #emit(data: Uint8Array, off: number, size: number): void {
    this.#onFrame(data.subarray(off, off + size), data[off]! >>> 6 === 0 ? 'stun' : 'channel-data');
  }

  #append(bytes: Uint8Array): void {
    const want = this.#held + bytes.length;
    if (want > this.#buf.length) {
      const next = new Uint8Array(Math.min(Math.max(this.#buf.length * 2, want), this.#maxFrame));
      next.set(this.#buf.subarray(0, this.#held));
      this.#buf = next;
    }
    this.#buf.set(bytes, this.#held);
    this.#held = want;
  }

  #fail(message: string): never {
    this.#failed = true;
    throw new StreamFramingError(message);
  }
}
