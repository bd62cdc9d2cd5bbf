/**
 * Frames of the ReliableChannel, carried as SecureSession payloads (so always encrypted and
 * authenticated; a parse error means a bug or a version skew, never an attacker's byte).
 * All integers little-endian.
 *
 * | type | name | layout                                                                              |
 * |------|------|-------------------------------------------------------------------------------------|
 * | 0x01 | data | 01 ‖ epoch u32 ‖ pn u32 ‖ base u32 ‖ tsval u32 ‖ frag index u16 ‖ frag count u16 ‖ fragment |
 * | 0x02 | ack  | 02 ‖ epoch u32 (the data sender's) ‖ cumulative u32 ‖ tsecr u32 ‖ window u16 ‖ n u8 ‖ n × (start u32 ‖ end u32) |
 * | 0x03 | ping | 03 ‖ nonce u32                                                                      |
 * | 0x04 | pong | 04 ‖ nonce u32                                                                      |
 * | 0x05 | batch| 05 ‖ n × (length u16 ‖ frame of type 1–4 or 6)                                       |
 * | 0x06 | data, ack now | as data (06 ‖ …): the receiver acks at once                                   |
 *
 * batch: several frames in one session payload (one datagram, one AEAD seal, one syscall) — how
 * the channel coalesces queued notifications, retransmissions and a piggybacked ack up to the MTU
 * (QUIC packs frames into packets the same way, RFC 9000 §12.4). A payload with one frame is sent
 * bare, without the batch header. Batches do not nest. Each frame inside keeps its own pn, so
 * acks, SACK ranges and retransmission work per frame exactly as for bare frames. At most
 * MAX_BATCH_FRAMES frames; a batch that is truncated, has a zero or overlong length, nests, holds
 * too many frames or any bad frame is rejected whole (FrameError, NATPUSH_ERR_SESSION_BAD_FRAME):
 * nothing of it is acted on, so its data is acked by no one and the sender retransmits it.
 * Versioning: batch and data-ack-now are part of session version 1 (wire.ts SESSION_VERSION, byte
 * 1 of every datagram, bound into the Noise prologue): no natpush build ever had the channel
 * without them (both date from before any release, 0.1.0), so there is no older peer to
 * negotiate with. A later frame type that an existing peer would drop must come with a new
 * SESSION_VERSION (then the mismatch shows at the handshake — the old peer drops it, counted as
 * `version` — rather than as frames silently dropped on a live session, every send timing out).
 * data, ack now: the sender marks the last data frame of each burst (it has nothing more to send
 * until an ack arrives), the idea of draft-ietf-quic-ack-frequency's IMMEDIATE_ACK. Without it a
 * delayed ack holds the tail of every burst for `ackDelayMs`: a window-limited flood then moves
 * one window per ack delay (measured: ~5k notifications/s, both processes ~70 % idle).
 * data: `pn` numbers every packet of one sender incarnation (`epoch`, random per channel); a
 * message is the fragments of consecutive pns, index 0 … count−1. `base` is the sender's lowest
 * unacknowledged pn: a receiver that meets a new epoch (the sender restarted) starts there.
 * ack: `cumulative` = next pn expected in order; ranges [start, end) received beyond it (SACK,
 * RFC 2018's idea); `window` = how many pns past `cumulative` the receiver will buffer.
 * tsval/tsecr (RFC 7323 §3-§4): the sender stamps each transmission with its clock (ms, mod 2^32),
 * the ack echoes the stamp of the packet that triggered it, so a retransmitted packet still gives
 * an unambiguous RTT sample (Karn's rule alone would give none while losses persist).
 *
 * A reassembled message (the fragments of consecutive pns): notification-codec.ts.
 */
import { SessionError, SessionErrorCode } from './errors.js';

export const FrameType = { DATA: 1, ACK: 2, PING: 3, PONG: 4, BATCH: 5, DATA_ACK_NOW: 6 } as const;

/** Bytes a frame costs inside a batch beyond its own: the u16 length. */
export const BATCH_FRAME_OVERHEAD = 2;
/** The batch's own type byte. */
export const BATCH_HEADER_BYTES = 1;

export const DATA_HEADER_BYTES = 21;
export const MAX_SACK_RANGES = 16;
const ACK_FIXED_BYTES = 16;
export const MAX_ACK_BYTES = ACK_FIXED_BYTES + MAX_SACK_RANGES * 8;

export type Frame =
  | {
      type: typeof FrameType.DATA;
      /** Sent as DATA_ACK_NOW: the sender waits for an ack (end of its burst). */
      ackNow: boolean;
      epoch: number;
      pn: number;
      base: number;
      tsval: number;
      fragIndex: number;
      fragCount: number;
      /**
       * The fragment is `bytes[start, end)`: offsets into the datagram's plaintext rather than a
       * view of it (a typed-array view per data frame was a good part of a flood receiver's
       * garbage); `fragmentOf` makes the view where one is needed.
       */
      bytes: Buffer;
      start: number;
      end: number;
    }
  | {
      type: typeof FrameType.ACK;
      epoch: number;
      cumulative: number;
      tsecr: number;
      window: number;
      ranges: [number, number][];
    }
  | { type: typeof FrameType.PING | typeof FrameType.PONG; nonce: number };

/**
 * A frame or batch that does not parse (typed: code NATPUSH_ERR_SESSION_BAD_FRAME, STYLE.md §7).
 * The channel catches it per datagram and counts it; nothing of the datagram is acted on.
 */
export class FrameError extends SessionError {
  constructor(message: string) {
    super(SessionErrorCode.BAD_FRAME, message);
    this.name = 'FrameError';
  }
}

/**
 * Frames one batch may hold. An honest batch is filled up to the sender's MTU: with the default
 * 1,200 bytes at most 41 data frames of the smallest notification (5-byte message + 21-byte
 * header + 2-byte length = 28 bytes), one ack and ≤ maxPings (16) pongs; 1,024 leaves room for an
 * MTU of ~28 KB. Why a bound at all: the parser allocates a Frame per frame and the channel
 * answers each ping with a pong, so a hostile (keyed) peer's 64 KB payload of 7-byte pings would
 * otherwise cost 9,000+ frames and as many pongs for one datagram.
 */
export const MAX_BATCH_FRAMES = 1024;

export function encodeData(
  epoch: number,
  pn: number,
  base: number,
  tsval: number,
  fragIndex: number,
  fragCount: number,
  fragment: Uint8Array,
): Buffer {
  const out = Buffer.allocUnsafe(DATA_HEADER_BYTES + fragment.length); // every byte written below
  writeDataHeader(out, 0, epoch, pn, base, tsval, fragIndex, fragCount);
  out.set(fragment, DATA_HEADER_BYTES);
  return out;
}

/**
 * A data frame's 21-byte header at `out[at]` (the layout in the table above): the one place that
 * writes it, for `encodeData` and for the datagram the channel fills in place (DatagramBuilder).
 */
export function writeDataHeader(
  out: Buffer,
  at: number,
  epoch: number,
  pn: number,
  base: number,
  tsval: number,
  fragIndex: number,
  fragCount: number,
): void {
  out[at] = FrameType.DATA;
  out.writeUInt32LE(epoch, at + 1);
  out.writeUInt32LE(pn, at + 5);
  out.writeUInt32LE(base, at + 9);
  out.writeUInt32LE(tsval >>> 0, at + 13);
  out.writeUInt16LE(fragIndex, at + 17);
  out.writeUInt16LE(fragCount, at + 19);
}

export function encodeAck(
  epoch: number,
  cumulative: number,
  tsecr: number,
  window: number,
  ranges: readonly (readonly [number, number])[],
): Buffer {
  const n = Math.min(ranges.length, MAX_SACK_RANGES);
  const out = Buffer.allocUnsafe(ACK_FIXED_BYTES + n * 8); // every byte written below
  out[0] = FrameType.ACK;
  out.writeUInt32LE(epoch, 1);
  out.writeUInt32LE(cumulative, 5);
  out.writeUInt32LE(tsecr >>> 0, 9);
  out.writeUInt16LE(Math.min(window, 0xffff), 13);
  out[15] = n;
  for (let i = 0; i < n; i++) {
    out.writeUInt32LE(ranges[i]![0], ACK_FIXED_BYTES + i * 8);
    out.writeUInt32LE(ranges[i]![1], ACK_FIXED_BYTES + 4 + i * 8);
  }
  return out;
}

export function encodePing(type: typeof FrameType.PING | typeof FrameType.PONG, nonce: number) {
  const out = Buffer.alloc(5);
  out[0] = type;
  out.writeUInt32LE(nonce, 1);
  return out;
}

/** One payload of `frames` (≥ 1): bare if one, else a batch. The caller keeps it under the MTU. */
export function encodeFrames(frames: readonly Uint8Array[], bytes: number): Uint8Array {
  if (frames.length === 1) return frames[0]!;
  const out = Buffer.allocUnsafe(BATCH_HEADER_BYTES + bytes + frames.length * BATCH_FRAME_OVERHEAD);
  out[0] = FrameType.BATCH;
  let off = BATCH_HEADER_BYTES;
  for (const f of frames) {
    out.writeUInt16LE(f.length, off);
    out.set(f, off + BATCH_FRAME_OVERHEAD);
    off += BATCH_FRAME_OVERHEAD + f.length;
  }
  return out;
}

/**
 * Every frame of one payload (bare or batch), in order. Throws FrameError on any bad frame.
 * Frames are read at offsets of one Buffer view of the payload: a data frame's fragment is the
 * only view made per frame (there were three, plus one more in reassembly: typed-array views
 * are allocations, and a 100-byte flood makes ~8 frames per datagram).
 */
export function decodeFrames(bytes: Uint8Array): Frame[] {
  return decodeInto(asBuffer(bytes), [], undefined);
}

export type DataFrame = Frame & { type: typeof FrameType.DATA };

/**
 * `decodeFrames` for the channel's receive path: the data frames of one payload are written into
 * objects reused from payload to payload (a Frame object per data frame was, after the fragment
 * views, the largest share of a flood receiver's garbage), and so is the array. What `read`
 * returns is valid until the next `read` after `done`: whoever keeps a data frame longer (the
 * receiver's out-of-order buffer) copies it. A `read` while the previous one is not `done` (a
 * synchronous path that brings the next datagram from inside the handling of this one) decodes
 * into new objects, as `decodeFrames`.
 */
export class FrameReader {
  readonly #frames: Frame[] = [];
  readonly #pool: DataFrame[] = [];
  #busy = false;

  read(bytes: Uint8Array): Frame[] {
    if (this.#busy) return decodeFrames(bytes);
    this.#frames.length = 0;
    decodeInto(asBuffer(bytes), this.#frames, this.#pool);
    this.#busy = true;
    return this.#frames;
  }

  /**
   * `frames` (what `read` returned) are no longer used. Only the reused array frees the objects:
   * a nested `read`'s new frames, done inside the outer one's handling, must not.
   */
  done(frames: Frame[]): void {
    if (frames === this.#frames) this.#busy = false;
  }
}

/** Every frame of `b` pushed to `frames`; data frames into `pool`'s objects when given. */
function decodeInto(b: Buffer, frames: Frame[], pool: DataFrame[] | undefined): Frame[] {
  if (b[0] !== FrameType.BATCH) {
    frames.push(decodeFrameAt(b, 0, b.length, pool?.[0] ?? newPooled(pool)));
    return frames;
  }
  let off = BATCH_HEADER_BYTES;
  let data = 0;
  while (off < b.length) {
    if (off + BATCH_FRAME_OVERHEAD > b.length) throw new FrameError('truncated batch');
    const len = b[off]! | (b[off + 1]! << 8);
    off += BATCH_FRAME_OVERHEAD;
    if (len === 0 || off + len > b.length) throw new FrameError('bad batch frame length');
    if (b[off] === FrameType.BATCH) throw new FrameError('nested batch');
    if (frames.length === MAX_BATCH_FRAMES)
      throw new FrameError(`batch of more than ${MAX_BATCH_FRAMES} frames`);
    const type = b[off];
    let into: DataFrame | undefined;
    if (pool && (type === FrameType.DATA || type === FrameType.DATA_ACK_NOW))
      into = pool[data++] ?? newPooled(pool);
    frames.push(decodeFrameAt(b, off, off + len, into));
    off += len;
  }
  if (frames.length === 0) throw new FrameError('empty batch');
  return frames;
}

/** A new object for `pool` (every field set, one shape), or undefined without a pool. */
function newPooled(pool: DataFrame[] | undefined): DataFrame | undefined {
  if (!pool) return undefined;
  const f: DataFrame = {
    type: FrameType.DATA,
    ackNow: false,
    epoch: 0,
    pn: 0,
    base: 0,
    tsval: 0,
    fragIndex: 0,
    fragCount: 1,
    bytes: EMPTY,
    start: 0,
    end: 0,
  };
  pool.push(f);
  return f;
}
const EMPTY = Buffer.alloc(0);

/** A data frame's fragment as a view of its datagram. */
export function fragmentOf(f: Frame & { type: typeof FrameType.DATA }): Buffer {
  return f.bytes.subarray(f.start, f.end);
}

export function decodeFrame(bytes: Uint8Array): Frame {
  return decodeFrameAt(asBuffer(bytes), 0, bytes.length, undefined);
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes)
    ? bytes
    : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** The frame in `b[s, e)`; a data frame written into `into` when given. */
function decodeFrameAt(b: Buffer, s: number, e: number, into: DataFrame | undefined): Frame {
  const len = e - s;
  if (len < 1) throw new FrameError('empty frame');
  const type = b[s]!;
  switch (type) {
    case FrameType.DATA:
    case FrameType.DATA_ACK_NOW: {
      if (len < DATA_HEADER_BYTES) throw new FrameError(`frame type ${type} too short`);
      const fragIndex = b.readUInt16LE(s + 17);
      const fragCount = b.readUInt16LE(s + 19);
      if (fragCount === 0 || fragIndex >= fragCount) throw new FrameError('bad fragment numbers');
      if (into) {
        into.ackNow = type === FrameType.DATA_ACK_NOW;
        into.epoch = b.readUInt32LE(s + 1);
        into.pn = b.readUInt32LE(s + 5);
        into.base = b.readUInt32LE(s + 9);
        into.tsval = b.readUInt32LE(s + 13);
        into.fragIndex = fragIndex;
        into.fragCount = fragCount;
        into.bytes = b;
        into.start = s + DATA_HEADER_BYTES;
        into.end = e;
        return into;
      }
      return {
        type: FrameType.DATA,
        ackNow: type === FrameType.DATA_ACK_NOW,
        epoch: b.readUInt32LE(s + 1),
        pn: b.readUInt32LE(s + 5),
        base: b.readUInt32LE(s + 9),
        tsval: b.readUInt32LE(s + 13),
        fragIndex,
        fragCount,
        bytes: b,
        start: s + DATA_HEADER_BYTES,
        end: e,
      };
    }
    case FrameType.ACK: {
      if (len < ACK_FIXED_BYTES) throw new FrameError(`frame type ${type} too short`);
      const n = b[s + 15]!;
      if (n > MAX_SACK_RANGES || len !== ACK_FIXED_BYTES + n * 8)
        throw new FrameError('bad ack length');
      const ranges: [number, number][] = [];
      for (let i = 0; i < n; i++) {
        const start = b.readUInt32LE(s + ACK_FIXED_BYTES + i * 8);
        const end = b.readUInt32LE(s + ACK_FIXED_BYTES + 4 + i * 8);
        if (end <= start) throw new FrameError('empty sack range');
        ranges.push([start, end]);
      }
      return {
        type: FrameType.ACK,
        epoch: b.readUInt32LE(s + 1),
        cumulative: b.readUInt32LE(s + 5),
        tsecr: b.readUInt32LE(s + 9),
        window: b.readUInt16LE(s + 13),
        ranges,
      };
    }
    case FrameType.PING:
    case FrameType.PONG:
      if (len !== 5) throw new FrameError('bad ping length');
      return { type, nonce: b.readUInt32LE(s + 1) };
    default:
      throw new FrameError(`unknown frame type ${type}`);
  }
}
