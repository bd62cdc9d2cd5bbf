/**
 * The receiving half of a ReliableChannel (reliable.ts): data packets in, notifications out in
 * order and once, acks back.
 *
 * - In-order delivery per sender incarnation (`epoch`): packets beyond a gap wait in a buffer of
 *   at most `recvWindowPackets` (advertised to the sender as its flow-control window).
 * - Exactly once: in-order pns deliver each packet once per incarnation; on top, ids are deduped
 *   (bounded, recent-ids.ts) so a notification sent again by a new incarnation of the sender is
 *   not delivered twice — unless `dedupeCapacity` is 0: a Peer turns it off (peer-link.ts), its
 *   Inbox dedupes every rung per (sender, id) in one table.
 * - Acks: cumulative + up to 16 SACK ranges; sent at once when a packet arrives out of order, is
 *   a duplicate, is marked DATA_ACK_NOW (the end of the sender's burst), or `ackEveryPackets`
 *   packets / `ackEveryDatagrams` datagrams arrived since the last ack, else after `ackDelayMs`
 *   (delayed ack, RFC 1122 §4.2.3.2 / RFC 9000 §13.2 — fewer datagrams, bounded delay). One ack
 *   decision per datagram (the channel calls `scheduleAck` after all its frames); of the
 *   immediate ones, the first of a JS task goes at once and the rest of that task's become one
 *   at its end (a batch of datagrams from recvmmsg is one task).
 */
import type { Clock, TimerHandle } from '../util/clock.js';
import { encodeAck, FrameType, MAX_SACK_RANGES, type Frame } from './reliable-frames.js';
import { decodeNotification, type Notification } from './notification-codec.js';
import type { ReliableStats } from './reliable-options.js';
import { Reassembler } from './reassembly.js';
import { RecentIds } from './recent-ids.js';

type DataFrame = Frame & { type: typeof FrameType.DATA };

export interface ReceiverOptions {
  recvWindowPackets: number;
  ackEveryPackets: number;
  ackEveryDatagrams: number;
  ackDelayMs: number;
  dedupeCapacity: number;
  maxBodyBytes: number;
}

/** Earlier sender incarnations remembered, so their stragglers are ignored. */
const RETIRED_EPOCHS_KEPT = 8;

export class ReliableReceiver {
  readonly #clock: Clock;
  readonly #o: ReceiverOptions;
  readonly #stats: ReliableStats;
  /** Adds a frame to the datagram being filled (the channel's DatagramBuilder). */
  readonly #emit: (frame: Uint8Array) => void;
  readonly #flush: () => void;
  readonly #isClosed: () => boolean;

  #remoteEpoch: number | undefined;
  /** Epochs of earlier sender incarnations: their stragglers are ignored. Bound: 8. */
  readonly #retiredEpochs: number[] = [];
  #expected = 0;
  readonly #buffer = new Map<number, DataFrame>();
  readonly #reassembler: Reassembler;
  #ackPending = 0;
  /** Datagrams with data since the last ack. */
  #ackPendingDatagrams = 0;
  /** tsval of the latest data packet received, echoed in the next ack (RFC 7323 TS.Recent). */
  #echo = 0;
  #ackTimer: TimerHandle | undefined;
  /** An immediate ack went out in this JS task (scheduleAck); cleared by a microtask. */
  #ackedInTask = false;
  /** Another came due after it in the same task: sent at the task's end. */
  #ackAtTaskEnd = false;
  /** Off (`dedupeCapacity: 0`) under a Peer, whose Inbox dedupes per (sender, id) itself. */
  readonly #dedupe: RecentIds | undefined;
  /**
   * Notifications complete in the datagram being handled, delivered after its ack went out (the
   * app's callbacks then do not delay the sender's next burst). Bound: one datagram's frames.
   */
  #ready: Notification[] = [];

  constructor(o: {
    clock: Clock;
    options: ReceiverOptions;
    stats: ReliableStats;
    emit: (frame: Uint8Array) => void;
    flush: () => void;
    closed: () => boolean;
  }) {
    this.#clock = o.clock;
    this.#o = o.options;
    this.#stats = o.stats;
    this.#emit = o.emit;
    this.#flush = o.flush;
    this.#isClosed = o.closed;
    // kind + id length + 64-byte id + topic length + 128 chars × 4 UTF-8 bytes + body.
    this.#reassembler = new Reassembler(
      4 + 64 + 128 * 4 + o.options.maxBodyBytes,
      () => this.#stats.protocolErrors++,
    );
    this.#dedupe =
      o.options.dedupeCapacity > 0 ? new RecentIds(o.options.dedupeCapacity) : undefined;
  }

  /** Packets held out of order awaiting a gap (≤ recvWindowPackets). */
  get buffered(): number {
    return this.#buffer.size;
  }

  /** The notifications completed since the last call, in order. */
  takeReady(): Notification[] {
    const ready = this.#ready;
    if (ready.length > 0) this.#ready = [];
    return ready;
  }

  close(): void {
    this.#ackAtTaskEnd = false;
    this.#ackTimer?.cancel();
    this.#buffer.clear();
  }

  /** Take one data packet; true if it calls for an immediate ack (a gap or a duplicate). */
  onData(f: DataFrame): boolean {
    this.#echo = f.tsval;
    if (f.epoch !== this.#remoteEpoch) {
      if (this.#retiredEpochs.includes(f.epoch)) return false;
      if (this.#remoteEpoch !== undefined) {
        // The sender restarted (a new channel): start over at its base.
        this.#retiredEpochs.push(this.#remoteEpoch);
        if (this.#retiredEpochs.length > RETIRED_EPOCHS_KEPT) this.#retiredEpochs.shift();
      }
      this.#remoteEpoch = f.epoch;
      this.#expected = f.base;
      this.#buffer.clear();
      this.#reassembler.reset();
    }
    if (f.base > this.#expected) {
      // The sender will never resend below base; cannot happen unless state was lost. Skip ahead.
      for (const pn of this.#buffer.keys()) if (pn < f.base) this.#buffer.delete(pn);
      this.#expected = f.base;
      this.#reassembler.reset();
    }
    let urgent = false;
    if (f.pn < this.#expected || this.#buffer.has(f.pn)) {
      urgent = true; // a duplicate: our ack was probably lost
    } else if (f.pn >= this.#expected + this.#o.recvWindowPackets) {
      this.#stats.outOfWindow++;
      urgent = true;
    } else {
      if (f.pn === this.#expected && this.#buffer.size === 0) {
        // In order with nothing waiting (the common case): no trip through the buffer.
        this.#expected++;
        this.#take(f);
      } else {
        if (f.pn !== this.#expected) urgent = true; // a gap: tell the sender at once (SACK)
        // A copy of the frame (the channel's FrameReader reuses it for the next datagram); its
        // bytes are the datagram's plaintext, ours to keep: no copy of those.
        this.#buffer.set(f.pn, { ...f });
        this.#deliverInOrder();
      }
    }
    return urgent;
  }

  #deliverInOrder(): void {
    for (;;) {
      const f = this.#buffer.get(this.#expected);
      if (!f) return;
      this.#buffer.delete(this.#expected);
      this.#expected++;
      this.#take(f);
    }
  }

  /** The next packet in order: to the reassembler, and a whole message on to the app. */
  #take(f: DataFrame): void {
    if (f.fragCount === 1) {
      if (this.#reassembler.whole(f)) this.#complete(f.bytes, f.start, f.end);
      return;
    }
    const whole = this.#reassembler.push(f);
    if (whole) this.#complete(whole, 0, whole.length);
  }

  /** A whole message in `b[s, e)`: decode, dedupe by id, queue for the app. */
  #complete(b: Buffer, s: number, e: number): void {
    let n: Notification;
    try {
      n = decodeNotification(b, s, e);
    } catch {
      this.#stats.protocolErrors++;
      return;
    }
    if (this.#dedupe?.seen(n.id) === true) {
      this.#stats.duplicatesDropped++;
      return;
    }
    this.#stats.notificationsDelivered++;
    this.#ready.push(n);
  }

  /**
   * One ack decision per datagram that carried `packets` data frames. At most one immediate ack
   * per JS task goes out at once; the ones due after it in the same task are one ack at its end
   * (a microtask) — cumulative + SACK, the last ack says what the others would. node:dgram hands
   * over one datagram per task, so nothing changes there; a batched socket (recvmmsg,
   * src/net/mmsg-network.ts) hands over up to 64 in one task: two acks for them rather than one
   * per 16 datagrams, or one per duplicate after the sender resent its whole flight
   * (`pathChanged`: 256 duplicates were 256 acks).
   */
  scheduleAck(packets: number, urgent: boolean): void {
    this.#ackPending += packets;
    this.#ackPendingDatagrams++;
    if (
      urgent ||
      this.#ackPending >= this.#o.ackEveryPackets ||
      this.#ackPendingDatagrams >= this.#o.ackEveryDatagrams
    ) {
      if (!this.#ackedInTask) {
        this.#ackedInTask = true;
        queueMicrotask(this.#taskEnd);
        return this.#sendAck();
      }
      this.#ackAtTaskEnd = true;
      return;
    }
    this.#ackTimer ??= this.#clock.setTimeout(() => {
      this.#ackTimer = undefined;
      if (this.#isClosed()) return;
      this.#sendAck();
      this.#flush();
    }, this.#o.ackDelayMs);
  }

  /** The end of a task that sent an immediate ack: the coalesced one, if another came due. */
  readonly #taskEnd = (): void => {
    this.#ackedInTask = false;
    if (!this.#ackAtTaskEnd) return;
    this.#ackAtTaskEnd = false;
    if (this.#isClosed()) return;
    this.#sendAck();
    this.#flush();
  };

  #sendAck(): void {
    this.#ackAtTaskEnd = false;
    this.#ackTimer?.cancel();
    this.#ackTimer = undefined;
    this.#ackPending = 0;
    this.#ackPendingDatagrams = 0;
    if (this.#remoteEpoch === undefined) return;
    const pns = [...this.#buffer.keys()].sort((x, y) => x - y);
    const ranges: [number, number][] = [];
    for (const pn of pns) {
      const last = ranges[ranges.length - 1];
      if (last && last[1] === pn) last[1] = pn + 1;
      else if (ranges.length < MAX_SACK_RANGES) ranges.push([pn, pn + 1]);
      else break;
    }
    this.#stats.acksSent++;
    this.#emit(
      encodeAck(this.#remoteEpoch, this.#expected, this.#echo, this.#o.recvWindowPackets, ranges),
    );
  }
}
