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
  encodeFrames,
  FrameType,
} from './reliable-frames.js';

/** Queued-for-handshake stamps remembered (a handshake holds at most a few datagrams' worth). */
const QUEUED_STAMPS_KEPT = 64;

export class DatagramBuilder {
  readonly #maxPayload: number;
  readonly #transmit: (payload: Uint8Array) => 'sent' | 'queued' | void;
  #frames: Uint8Array[] = [];
  #bytes = 0;
  /** tsvals of the data frames in `#frames` (for `#queuedStamps` if the session queues it). */
  #stamps: number[] = [];
  /** Index in `#frames` of the last data frame (to mark it DATA_ACK_NOW), or −1. */
  #lastData = -1;
  /** Stamps of transmissions the session queued for a handshake. Bound: QUEUED_STAMPS_KEPT. */
  readonly #queuedStamps = new Set<number>();

  constructor(maxPayload: number, transmit: (payload: Uint8Array) => 'sent' | 'queued' | void) {
    this.#maxPayload = maxPayload;
    this.#transmit = transmit;
  }

  /** Add a frame; a full datagram goes out first. */
  add(frame: Uint8Array, tsval?: number): void {
    const n = this.#frames.length;
    if (n > 0) {
      const batched =
        BATCH_HEADER_BYTES + this.#bytes + frame.length + (n + 1) * BATCH_FRAME_OVERHEAD;
      if (batched > this.#maxPayload) this.flush(false);
    }
    this.#frames.push(frame);
    this.#bytes += frame.length;
    if (tsval !== undefined) this.#stamps.push(tsval);
  }

  /** Add a data frame (a fresh buffer of encodeData's: flush may mark it in place). */
  addData(frame: Uint8Array, tsval: number): void {
    this.add(frame, tsval);
    this.#lastData = this.#frames.length - 1;
  }

  /**
   * Send the datagram being filled, if any (`last`: the end of the burst — its last data frame
   * asks for an ack at once, see DATA_ACK_NOW in reliable-frames).
   */
  flush(last = true): void {
    if (this.#frames.length === 0) return;
    if (last && this.#lastData >= 0) this.#frames[this.#lastData]![0] = FrameType.DATA_ACK_NOW;
    this.#lastData = -1;
    const payload = encodeFrames(this.#frames, this.#bytes);
    const stamps = this.#stamps;
    this.#frames = [];
    this.#bytes = 0;
    this.#stamps = [];
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
    this.#frames = [];
    this.#bytes = 0;
    this.#stamps = [];
    this.#lastData = -1;
  }
}
