/**
 * The receiving half of one WebSocket connection (ws-connection.ts): a raw WebSocket message
 * turned into a checked client frame, and the bounded queue of frames a client sent before its
 * `welcome`. Split from the connection so the handshake and frame handling read apart.
 */
import type WebSocket from 'ws';
import { decodeClientFrame } from './client-frame.js';
import { SignalingError, SignalingErrorCode } from './errors.js';
import type { ClientMessage } from './protocol.js';

/**
 * One message from the client as a frame: text only, at most `maxFrameBytes`, JSON that matches
 * `clientMessage` (client-frame.ts). Throws `SignalingError` (BAD_FRAME, FRAME_TOO_LARGE).
 */
export function readClientFrame(
  data: WebSocket.RawData,
  isBinary: boolean,
  maxFrameBytes: number,
): { m: ClientMessage; size: number } {
  if (isBinary)
    throw new SignalingError(SignalingErrorCode.BAD_FRAME, 'binary frames are not part of v1');
  const size = Array.isArray(data) ? data.reduce((s, b) => s + b.length, 0) : data.byteLength;
  if (size > maxFrameBytes) {
    throw new SignalingError(
      SignalingErrorCode.FRAME_TOO_LARGE,
      `frame larger than ${maxFrameBytes} bytes`,
    );
  }
  return { m: decodeClientFrame(rawToString(data), maxFrameBytes), size };
}

function rawToString(data: WebSocket.RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}

/**
 * Frames a client may send between its `auth` and our `welcome` (a client that does not wait for
 * `welcome`): kept in order and handled after it. Bound: a well-behaved client sends none; one
 * that pipelines sends its first few requests (a notify window); more is refused.
 */
export const MAX_EARLY_FRAMES = 64;
/**
 * ... and at most this many bytes of them together: the frames are held while the registration's
 * fsync runs, so without a byte bound a hostile client could park 64 × maxFrameBytes per
 * connection (test/security/memory-hostile.test.ts caught the peak growing past its bound).
 */
export const MAX_EARLY_BYTES = 64 * 1024;

export class EarlyFrames {
  #frames: ClientMessage[] = [];
  #bytes = 0;

  /** Keep `m` (of `size` bytes); false when that would pass either bound (refuse the client). */
  push(m: ClientMessage, size: number): boolean {
    this.#bytes += size;
    if (this.#frames.length >= MAX_EARLY_FRAMES || this.#bytes > MAX_EARLY_BYTES) return false;
    this.#frames.push(m);
    return true;
  }

  /** Every frame kept, in order; the queue is empty after. */
  take(): ClientMessage[] {
    const out = this.#frames;
    this.#frames = [];
    return out;
  }
}
