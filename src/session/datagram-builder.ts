/**
 * The outgoing datagram a ReliableChannel is filling: frames are added until the next one would
 * not fit `maxPayload`, then the datagram goes out (one AEAD seal, one syscall, whatever it
 * holds; a `batch` frame when it holds more than one — reliable-frames.ts). The channel flushes
 * at the end of every event it handles, marking the last data frame of the burst DATA_ACK_NOW.
 *
 * It also remembers the timestamps of data frames that the session queued for a handshake
 * instead of sending: an ack echoing one of those would time the handshake, not the path, so the
 * channel takes no RTT sample from it (bounded: the 64 most recent).
 */
import {
  BATCH_FRAME_OVERHEAD,
  BATCH_HEADER_BYTES,
  DATA_HEADER_BYTES,
  FrameType,
  writeDataHeader,
} from './reliable-frames.js';
import { notificationBytes, writeNotification, type Notification } from './notification-codec.js';

/** Queued-for-handshake stamps remembered (a handshake holds at most a few datagrams' worth). */
const QUEUED_STAMPS_KEPT = 64;
/** Where the first frame's u16 length sits: after the batch type byte. */
const FIRST_FRAME = BATCH_HEADER_BYTES;

/**
 * Frames are written straight into one buffer that is reused for every datagram, laid out as a
 * batch (reliable-frames.ts) — `05 ‖ n × (len u16 ‖ frame)` — and sent bare (from the first
 * frame's first byte) when it holds one frame. A data frame's header is written in place
 * around its fragment. Profiled before: a Buffer per data frame (encodeData) and another per
 * datagram (encodeFrames), copied twice, were a good part of a 100-byte flood's garbage.
 * The session seals from this buffer into a new one (or copies what it queues) before `send`
 * returns, so the buffer is free again at once (DatagramSession's contract).
 */
export class DatagramBuilder {
  readonly #maxPayload: number;
  readonly #transmit: (payload: Uint8Array) => 'sent' | 'queued' | void;
  readonly #onOversize: (length: number) => void;
  readonly #buf: Buffer;
  /** Frames in the datagram being filled, and the offset where the next one goes. */
  #frames = 0;
  #end = FIRST_FRAME;
  /** tsvals of the data frames being filled (for `#queuedStamps` if the session queues it). */
  #stamps: number[] = [];
  /** Offset of the last data frame's type byte (to mark it DATA_ACK_NOW), or −1. */
  #lastData = -1;
  /** Stamps of transmissions the session queued for a handshake. Bound: QUEUED_STAMPS_KEPT. */
  readonly #queuedStamps = new Set<number>();

  constructor(
    maxPayload: number,
    transmit: (payload: Uint8Array) => 'sent' | 'queued' | void,
    onOversize: (length: number) => void = () => {},
  ) {
    this.#maxPayload = maxPayload;
    this.#transmit = transmit;
    this.#onOversize = onOversize;
    // A batch never exceeds maxPayload (#room flushes first); a lone frame of up to maxPayload
    // bytes (a full data fragment) sits after the batch byte and its length, unused when bare.
    this.#buf = Buffer.allocUnsafe(BATCH_HEADER_BYTES + BATCH_FRAME_OVERHEAD + maxPayload);
  }

  /** Add a frame; a full datagram goes out first. */
  add(frame: Uint8Array): void {
    const at = this.#room(frame.length);
    if (at < 0) return;
    this.#buf.set(frame, at);
    this.#commit(at, frame.length);
  }

  /** Add a data frame (reliable-frames.ts layout), its header written in place. */
  addData(
    epoch: number,
    pn: number,
    base: number,
    tsval: number,
    fragIndex: number,
    fragCount: number,
    fragment: Uint8Array,
  ): void {
    const length = DATA_HEADER_BYTES + fragment.length;
    const at = this.#openData(length, epoch, pn, base, tsval, fragIndex, fragCount);
    if (at < 0) return;
    this.#buf.set(fragment, at + DATA_HEADER_BYTES);
    this.#commitData(at, length, tsval);
  }

  /**
   * Add a data frame holding the whole of notification `m`, encoded in place (reliable-frames.ts
   * writeNotification): no Buffer per notification, no copy of one.
   */
  addMessage(
    epoch: number,
    pn: number,
    base: number,
    tsval: number,
    m: Notification & { topicBytes: number; bodyBytes: number },
  ): void {
    const length = DATA_HEADER_BYTES + notificationBytes(m.id, m.topicBytes, m.bodyBytes);
    const at = this.#openData(length, epoch, pn, base, tsval, 0, 1);
    if (at < 0) return;
    writeNotification(this.#buf, at + DATA_HEADER_BYTES, m, m.topicBytes, m.bodyBytes);
    this.#commitData(at, length, tsval);
  }

  /**
   * Room for a data frame of `length` bytes (`#room`) with its header written there; the caller
   * writes the rest after the header, then `#commitData`. −1 when it fits no datagram.
   */
  #openData(
    length: number,
    epoch: number,
    pn: number,
    base: number,
    tsval: number,
    fragIndex: number,
    fragCount: number,
  ): number {
    const at = this.#room(length);
    if (at >= 0) writeDataHeader(this.#buf, at, epoch, pn, base, tsval, fragIndex, fragCount);
    return at;
  }

  /**
   * Where a frame of `length` bytes goes (after flushing a datagram it would not fit in), or −1
   * if it can fit none (`onOversize`). Nothing is counted until `#commit`, after the frame's
   * bytes are written: whatever interrupts the writing (a throw, a flush that brought frames
   * back in) leaves no half-written frame to go out with stale bytes.
   */
  #room(length: number): number {
    // As a batch: type byte + every frame + a u16 length each. A loop: on a synchronous path
    // the flush can bring frames back in (a session event answered from inside our send).
    while (this.#frames > 0 && this.#end + BATCH_FRAME_OVERHEAD + length > this.#maxPayload)
      this.flush(false);
    if (this.#end + BATCH_FRAME_OVERHEAD + length > this.#buf.length) {
      // Larger than maxPayload: the channel never makes one (it fragments to fit). Not thrown:
      // this runs in timers and handlers; the frame is dropped and its send times out.
      this.#onOversize(length);
      return -1;
    }
    return this.#end + BATCH_FRAME_OVERHEAD;
  }

  /** The frame written at `at` (from `#room`) is part of the datagram. */
  #commit(at: number, length: number): void {
    this.#buf.writeUInt16LE(length, at - BATCH_FRAME_OVERHEAD);
    this.#end = at + length;
    this.#frames++;
  }

  #commitData(at: number, length: number, tsval: number): void {
    this.#commit(at, length);
    this.#stamps.push(tsval);
    this.#lastData = at;
  }

  /**
   * Send the datagram being filled, if any (`last`: the end of the burst — its last data frame
   * asks for an ack at once, see DATA_ACK_NOW in reliable-frames).
   */
  flush(last = true): void {
    if (this.#frames === 0) return;
    const b = this.#buf;
    if (last && this.#lastData >= 0) b[this.#lastData] = FrameType.DATA_ACK_NOW;
    let payload: Buffer;
    if (this.#frames === 1) payload = b.subarray(FIRST_FRAME + BATCH_FRAME_OVERHEAD, this.#end);
    else {
      b[0] = FrameType.BATCH;
      payload = b.subarray(0, this.#end);
    }
    const stamps = this.#stamps;
    // Reset before transmitting: a synchronous path may hand us frames again from inside.
    this.clear();
    const r = this.#transmit(payload);
    if (r === 'queued') {
      // Held for a handshake: an echo of these stamps would time the handshake, not the path.
      for (const tsval of stamps) this.#queuedStamps.add(tsval);
      while (this.#queuedStamps.size > QUEUED_STAMPS_KEPT)
        this.#queuedStamps.delete(this.#queuedStamps.values().next().value!);
    }
  }

  /** True if `tsval` stamped a transmission the session held for a handshake. */
  wasQueued(tsval: number): boolean {
    return this.#queuedStamps.has(tsval);
  }

  /** Drop the datagram being filled (the channel closed). */
  clear(): void {
    this.#frames = 0;
    this.#end = FIRST_FRAME;
    this.#stamps = [];
    this.#lastData = -1;
  }
}
