/**
 * ReliableChannel: notifications over a SecureSession's lossy, reordering datagrams — exactly once,
 * in order, acknowledged. The session below may switch paths (server p2p frame → relay → direct)
 * at any time; nothing here depends on the path, so a switch costs at most a retransmission.
 *
 * - Packets (frames in reliable-frames.ts) carry a per-sender packet number `pn`; a notification is
 *   fragmented to fit `mtu` and spans consecutive pns.
 * - Coalescing: frames are not sent one datagram each. Everything produced while handling one
 *   event (an ack, an RTO, a received datagram) goes out together, and `send` defers its packets
 *   to a microtask so the notifications an app issues in one turn — or that the acks of one
 *   datagram release — share datagrams up to `mtu` (a `batch` frame). One datagram costs one AEAD
 *   seal and one syscall whatever it holds; a profile of a 100-byte flood spent ~50 µs of its
 *   ~80 µs per notification on those two.
 * - Acks: cumulative + up to 16 SACK ranges; sent at once when a packet arrives out of order,
 *   is a duplicate, is marked DATA_ACK_NOW (the end of the sender's burst), or `ackEveryPackets`
 *   packets / `ackEveryDatagrams` datagrams arrived since the last ack, else after `ackDelayMs`
 *   (delayed ack, RFC 1122 §4.2.3.2 / RFC 9000 §13.2 — fewer datagrams, bounded delay). One ack
 *   decision per datagram; it rides with any data going the other way, and goes out before the
 *   datagram's notifications reach the app. The sender walks its unacked packets in pn order and
 *   stops at the cumulative point (no scan of the whole table per ack).
 * - Send timeouts: one channel timer for the earliest deadline, not one per notification.
 * - Retransmission: RTO from measured RTT (RFC 6298, rtt-estimator.ts) with exponential backoff;
 *   fast retransmit of a packet when 3 later ones were acked (RFC 9002 §6.1.1 packet threshold).
 * - Flow control: the receiver buffers at most `recvWindowPackets` beyond its cumulative point
 *   and advertises that window; the sender never has more unacked packets than that.
 * - Congestion control: on top, a NewReno-style AIMD window (congestion-window.ts, RFC 9002 §7)
 *   from `initialWindowPackets` up to `maxInFlightPackets`: slow start per ack, halved on a fast
 *   retransmission, back to `minWindowPackets` on an RTO.
 * - Exactly once: in-order pns deliver each packet once per sender incarnation; on top, ids are
 *   deduped (bounded) so a notification re-sent by the Peer on another rung is not delivered twice.
 *
 * One concept per file: options and defaults (reliable-options.ts), wire frames
 * (reliable-frames.ts), the datagram being filled (datagram-builder.ts), the congestion window
 * (congestion-window.ts), RTT/RTO (rtt-estimator.ts), reassembly (reassembly.ts), dedupe
 * (recent-ids.ts); this file is the sender's and the receiver's state machine.
 */
import { randomBytes } from 'node:crypto';
import type { Clock, TimerHandle } from '../util/clock.js';
import { silentLogger, type Logger } from '../util/logger.js';
import { SessionError, SessionErrorCode } from './errors.js';
import {
  DATA_HEADER_BYTES,
  decodeFrames,
  decodeNotification,
  encodeAck,
  encodeData,
  encodeNotification,
  encodePing,
  FrameType,
  ID_PATTERN,
  isValidTopic,
  MAX_ACK_BYTES,
  MAX_SACK_RANGES,
  type Frame,
  type Notification,
} from './reliable-frames.js';
import { CongestionWindow } from './congestion-window.js';
import { DatagramBuilder } from './datagram-builder.js';
import { Reassembler } from './reassembly.js';
import { RecentIds } from './recent-ids.js';
import {
  RELIABLE_DEFAULTS,
  type DatagramSession,
  type ReliableOptions,
  type ReliableStats,
} from './reliable-options.js';
import { RttEstimator } from './rtt-estimator.js';
import { TRANSPORT_OVERHEAD } from './wire.js';

export type { Notification } from './reliable-frames.js';

export {
  RELIABLE_DEFAULTS,
  type DatagramSession,
  type ReliableOptions,
  type ReliableStats,
} from './reliable-options.js';

interface OutMessage {
  id: string;
  fragments: Buffer[];
  nextFragment: number;
  unacked: number;
  resolve: () => void;
  reject: (e: Error) => void;
  /** Clock time after which `send` rejects with SEND_TIMEOUT (one channel timer for all). */
  deadline: number;
  settled: boolean;
}

interface OutPacket {
  pn: number;
  msg: OutMessage;
  fragIndex: number;
  lastSentAt: number;
  sendCount: number;
}

export class ReliableChannel {
  readonly #session: DatagramSession;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #o: Required<Omit<ReliableOptions, 'rtt'>>;
  readonly #rtt: RttEstimator;
  readonly #fragmentBytes: number;
  /** Largest session payload: `mtu` less the session's header and tag. */
  readonly #maxPayload: number;
  readonly #unsubscribe: () => void;
  #closed = false;

  // sender
  readonly #epoch = randomBytes(4).readUInt32LE(0);
  #nextPn = 0;
  readonly #unacked = new Map<number, OutPacket>();
  /** `#base()`'s answer while that packet is unacked. */
  #baseCache: number | undefined;
  readonly #queue: OutMessage[] = [];
  #peerCumulative = 0;
  #peerWindow: number;
  readonly #cwnd: CongestionWindow;
  #rtoTimer: TimerHandle | undefined;
  #highestAcked = -1;
  /**
   * Messages not yet settled, in send order, for the one send-timeout timer (a timer per message
   * cost a timer object and a heap insertion per notification). Bound: maxQueuedMessages +
   * maxInFlightPackets (a message is queued or has a packet in flight until it settles).
   */
  readonly #live = new Set<OutMessage>();
  #deadlineTimer: TimerHandle | undefined;
  #deadlineAt = Infinity;
  #pumpScheduled = false;

  /** The outgoing datagram being filled (datagram-builder.ts). */
  readonly #out: DatagramBuilder;

  // receiver
  #remoteEpoch: number | undefined;
  /** Epochs of earlier sender incarnations: their stragglers are ignored. Bound: 8. */
  readonly #retiredEpochs: number[] = [];
  #expected = 0;
  readonly #buffer = new Map<number, Frame & { type: typeof FrameType.DATA }>();
  readonly #reassembler: Reassembler;
  #ackPending = 0;
  /** Datagrams with data since the last ack. */
  #ackPendingDatagrams = 0;
  /** tsval of the latest data packet received, echoed in the next ack (RFC 7323 TS.Recent). */
  #echo = 0;
  #ackTimer: TimerHandle | undefined;
  readonly #dedupe: RecentIds;
  /**
   * Notifications complete in the datagram being handled, delivered after its ack went out (the
   * app's callbacks then do not delay the sender's next burst). Bound: one datagram's frames.
   */
  #ready: Notification[] = [];

  readonly #pings = new Map<
    number,
    {
      sentAt: number;
      resolve: (ms: number) => void;
      reject: (e: Error) => void;
      timer: TimerHandle;
    }
  >();
  readonly #onNotification = new Set<(n: Notification) => void>();

  readonly stats: ReliableStats = {
    notificationsSent: 0,
    notificationsDelivered: 0,
    duplicatesDropped: 0,
    packetsSent: 0,
    retransmissions: 0,
    fastRetransmissions: 0,
    timeouts: 0,
    acksSent: 0,
    outOfWindow: 0,
    protocolErrors: 0,
  };

  constructor(o: {
    session: DatagramSession;
    clock: Clock;
    logger?: Logger;
    options?: ReliableOptions;
  }) {
    this.#session = o.session;
    this.#clock = o.clock;
    this.#log = o.logger ?? silentLogger;
    const { rtt, ...rest } = o.options ?? {};
    this.#o = { ...RELIABLE_DEFAULTS, ...rest };
    this.#rtt = new RttEstimator(rtt);
    if (this.#o.mtu < TRANSPORT_OVERHEAD + MAX_ACK_BYTES + DATA_HEADER_BYTES)
      throw new RangeError(`mtu ${this.#o.mtu} too small`);
    this.#maxPayload = this.#o.mtu - TRANSPORT_OVERHEAD;
    this.#out = new DatagramBuilder(this.#maxPayload, (payload) => this.#transmit(payload));
    this.#fragmentBytes = this.#maxPayload - DATA_HEADER_BYTES;
    // kind + id length + 64-byte id + topic length + 128 chars × 4 UTF-8 bytes + body.
    this.#reassembler = new Reassembler(
      4 + 64 + 128 * 4 + this.#o.maxBodyBytes,
      () => this.stats.protocolErrors++,
    );
    this.#peerWindow = this.#o.recvWindowPackets;
    this.#cwnd = new CongestionWindow({
      initial: Math.min(this.#o.initialWindowPackets, this.#o.maxInFlightPackets),
      min: Math.min(this.#o.minWindowPackets, this.#o.initialWindowPackets),
      max: this.#o.maxInFlightPackets,
    });
    this.#dedupe = new RecentIds(this.#o.dedupeCapacity);
    this.#unsubscribe = this.#session.onMessage((p) => this.#onPayload(p));
  }

  /** Smoothed round-trip time (ms) from acks and pongs, undefined before the first sample. */
  get rttMs(): number | undefined {
    return this.#rtt.srtt;
  }

  get rtoMs(): number {
    return this.#rtt.rto;
  }

  /** The sender's congestion window now (packets), and its counters. */
  get congestion(): {
    window: number;
    slowStart: boolean;
    peak: number;
    reductions: number;
    timeouts: number;
  } {
    const c = this.#cwnd;
    return { window: c.packets, slowStart: c.inSlowStart, ...c.stats };
  }

  /** Packets sent and not yet acknowledged. */
  get inFlight(): number {
    return this.#unacked.size;
  }

  /** Packets held out of order awaiting a gap (≤ recvWindowPackets). */
  get buffered(): number {
    return this.#buffer.size;
  }

  /**
   * Notifications accepted by `send` whose promise has not settled (not yet acknowledged, timed
   * out or closed). A timed-out one is no longer counted, though its packets are still resent.
   */
  get pending(): number {
    return this.#live.size;
  }

  onNotification(cb: (n: Notification) => void): () => void {
    this.#onNotification.add(cb);
    return () => this.#onNotification.delete(cb);
  }

  /**
   * Send one notification; resolves when the remote acknowledged every fragment. Rejects with
   * SEND_TIMEOUT (it may still be delivered: receivers dedupe by id), BACKPRESSURE, or CLOSED.
   */
  send(n: Notification, o: { timeoutMs?: number } = {}): Promise<void> {
    if (!ID_PATTERN.test(n.id))
      throw new TypeError('notification id must match ^[A-Za-z0-9_.:-]{1,64}$');
    if (n.topic !== undefined && !isValidTopic(n.topic)) throw new TypeError('invalid topic');
    if (typeof n.body !== 'string') throw new TypeError('body must be a string');
    const bodyBytes = Buffer.byteLength(n.body);
    if (bodyBytes > this.#o.maxBodyBytes)
      throw new RangeError(`body larger than ${this.#o.maxBodyBytes} bytes`);
    if (this.#closed) return Promise.reject(closedError());
    if (this.#queue.length >= this.#o.maxQueuedMessages)
      return Promise.reject(
        new SessionError(SessionErrorCode.BACKPRESSURE, 'too many notifications queued'),
      );
    const bytes = encodeNotification(n, bodyBytes);
    const fragments: Buffer[] = [];
    if (bytes.length <= this.#fragmentBytes) fragments.push(bytes);
    else
      for (let off = 0; off < bytes.length; off += this.#fragmentBytes)
        fragments.push(bytes.subarray(off, off + this.#fragmentBytes));
    return new Promise<void>((resolve, reject) => {
      const msg: OutMessage = {
        id: n.id,
        fragments,
        nextFragment: 0,
        unacked: fragments.length,
        resolve,
        reject,
        deadline: this.#clock.now() + (o.timeoutMs ?? this.#o.sendTimeoutMs),
        settled: false,
      };
      this.#queue.push(msg);
      this.#live.add(msg);
      this.#armDeadline(msg.deadline);
      this.stats.notificationsSent++;
      this.#schedulePump();
    });
  }

  /** Round trip of an authenticated ping/pong over the current path (for `natpush ping`). */
  ping(timeoutMs = 5_000): Promise<number> {
    if (this.#closed) return Promise.reject(closedError());
    if (this.#pings.size >= this.#o.maxPings)
      return Promise.reject(new SessionError(SessionErrorCode.BACKPRESSURE, 'too many pings'));
    const nonce = randomBytes(4).readUInt32LE(0);
    return new Promise<number>((resolve, reject) => {
      const timer = this.#clock.setTimeout(() => {
        this.#pings.delete(nonce);
        reject(new SessionError(SessionErrorCode.SEND_TIMEOUT, 'no pong'));
      }, timeoutMs);
      this.#pings.set(nonce, { sentAt: this.#clock.now(), resolve, reject, timer });
      // A ping sent before the session has keys includes the handshake in its round trip —
      // that is what `natpush ping` should show for a first contact.
      this.#emit(encodePing(FrameType.PING, nonce));
      this.#flush();
    });
  }

  /**
   * The path under the session changed: its RTT is unknown (RFC 9000 §9.4 resets the estimator on
   * migration), and what was in flight on the old path may be gone — resend it now.
   */
  pathChanged(): void {
    if (this.#closed) return;
    this.#rtt.reset();
    this.#cwnd.reset();
    for (const p of this.#unacked.values()) this.#sendPacket(p, true);
    this.#armRto(true);
    this.#flush();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#unsubscribe();
    this.#rtoTimer?.cancel();
    this.#ackTimer?.cancel();
    this.#deadlineTimer?.cancel();
    this.#deadlineTimer = undefined;
    const err = closedError();
    for (const m of [...this.#live]) this.#settle(m, err);
    this.#unacked.clear();
    this.#baseCache = undefined;
    this.#queue.length = 0;
    this.#out.clear();
    for (const p of this.#pings.values()) {
      p.timer.cancel();
      p.reject(err);
    }
    this.#pings.clear();
    this.#buffer.clear();
  }

  // ---- sender -----------------------------------------------------------------------------------

  /**
   * `send` pumps on a microtask: every notification issued in this turn (an app's loop, or the
   * continuations one datagram of acks released) joins the same datagrams.
   */
  #schedulePump(): void {
    if (this.#pumpScheduled) return;
    this.#pumpScheduled = true;
    queueMicrotask(() => {
      this.#pumpScheduled = false;
      if (this.#closed) return;
      this.#pump();
      this.#flush();
    });
  }

  /** Send new packets while the window allows. */
  #pump(): void {
    const limit = Math.min(this.#peerWindow, this.#cwnd.packets);
    while (this.#queue.length > 0) {
      if (this.#unacked.size >= limit) break;
      if (this.#nextPn >= this.#peerCumulative + this.#peerWindow) break;
      const msg = this.#queue[0]!;
      const packet: OutPacket = {
        pn: this.#nextPn++,
        msg,
        fragIndex: msg.nextFragment++,
        lastSentAt: 0,
        sendCount: 0,
      };
      if (msg.nextFragment === msg.fragments.length) this.#queue.shift();
      this.#unacked.set(packet.pn, packet);
      this.#sendPacket(packet, false);
    }
    this.#armRto(false);
  }

  /**
   * Lowest unacked pn (Map keeps insertion = pn order). Cached: it only changes when that packet
   * is acked, and an iterator per packet sent was a measurable share of a flood's garbage.
   */
  #base(): number {
    if (this.#baseCache === undefined)
      for (const pn of this.#unacked.keys()) {
        this.#baseCache = pn;
        break;
      }
    return this.#baseCache ?? this.#nextPn;
  }

  #sendPacket(p: OutPacket, retransmission: boolean): void {
    p.lastSentAt = this.#clock.now();
    p.sendCount++;
    if (retransmission) this.stats.retransmissions++;
    this.stats.packetsSent++;
    const frag = p.msg.fragments[p.fragIndex]!;
    const tsval = ts32(p.lastSentAt);
    this.#out.addData(
      encodeData(this.#epoch, p.pn, this.#base(), tsval, p.fragIndex, p.msg.fragments.length, frag),
      tsval,
    );
  }

  /** Add a frame to the datagram being filled; a full one goes out first. */
  #emit(frame: Uint8Array): void {
    this.#out.add(frame);
  }

  /** Send the datagram being filled. Every entry point ends with this (see DatagramBuilder). */
  #flush(): void {
    this.#out.flush();
  }

  #armRto(restart: boolean): void {
    if (this.#unacked.size === 0) {
      this.#rtoTimer?.cancel();
      this.#rtoTimer = undefined;
      return;
    }
    if (this.#rtoTimer && !restart) return;
    this.#rtoTimer?.cancel();
    this.#rtoTimer = this.#clock.setTimeout(() => this.#onRto(), this.#rtt.rto);
  }

  /**
   * RFC 6298 §5.4–5.6: retransmit the earliest unacked packet, back off, restart the timer. The
   * holes the SACKs already revealed go with it (RFC 6675's idea): under heavy loss, one packet
   * per (backed-off) RTO would take minutes to fill them.
   */
  #onRto(): void {
    this.#rtoTimer = undefined;
    if (this.#closed) return;
    const first = this.#unacked.values().next().value;
    if (!first) return;
    this.stats.timeouts++;
    this.#rtt.backoff();
    this.#cwnd.onTimeout(this.#nextPn);
    for (const p of this.#unacked.values()) {
      if (p !== first && p.pn + 3 > this.#highestAcked) break;
      this.#sendPacket(p, true);
    }
    this.#armRto(true);
    this.#flush();
  }

  #onAck(f: Frame & { type: typeof FrameType.ACK }): void {
    if (f.epoch !== this.#epoch) return; // an ack for an earlier incarnation of us
    const now = this.#clock.now();
    let newest: OutPacket | undefined;
    const ack = (p: OutPacket) => {
      this.#unacked.delete(p.pn);
      if (p.pn === this.#baseCache) this.#baseCache = undefined;
      this.#cwnd.onAcked(p.pn);
      if (!newest || p.pn > newest.pn) newest = p;
      if (--p.msg.unacked === 0 && p.msg.nextFragment === p.msg.fragments.length)
        this.#settle(p.msg);
    };
    // The map is in pn order: the cumulative part is a prefix, so stop at the first pn above it;
    // SACK ranges are looked up pn by pn (≤ 16 ranges within the receiver's window).
    for (const p of this.#unacked.values()) {
      if (p.pn >= f.cumulative) break;
      ack(p);
    }
    let highest = f.cumulative - 1;
    for (const [s, e] of f.ranges) {
      if (e - 1 > highest) highest = e - 1;
      if (e - s > this.#o.recvWindowPackets) continue; // not a range our window could produce
      for (let pn = Math.max(s, f.cumulative); pn < e; pn++) {
        const p = this.#unacked.get(pn);
        if (p) ack(p);
      }
    }
    if (f.cumulative > this.#peerCumulative) this.#peerCumulative = f.cumulative;
    this.#peerWindow = Math.max(1, f.window);
    if (highest > this.#highestAcked) this.#highestAcked = highest;
    if (newest) {
      // RFC 7323 §4: the echoed stamp times exactly the transmission that was acked, even a
      // retransmission (where Karn's rule, RFC 6298 §3, would have to skip the sample).
      const sample = (ts32(now) - f.tsecr) >>> 0;
      if (!this.#out.wasQueued(f.tsecr) && sample < MAX_RTT_SAMPLE_MS) this.#rtt.sample(sample);
      // RFC 9002 §6.1.1: a packet 3 below the newest acked one is lost; resend it, at most once
      // per RTT so a burst of acks does not resend it again and again.
      const minGap = this.#rtt.srtt ?? FAST_RETRANSMIT_GAP_MS;
      for (const p of this.#unacked.values()) {
        if (p.pn + 3 > highest) break;
        if (now - p.lastSentAt >= minGap) {
          this.stats.fastRetransmissions++;
          this.#cwnd.onLoss(p.pn, this.#nextPn);
          this.#sendPacket(p, true);
        }
      }
      this.#armRto(true);
    }
    this.#pump();
  }

  #settle(msg: OutMessage, err?: Error): void {
    if (msg.settled) return;
    msg.settled = true;
    this.#live.delete(msg);
    if (this.#live.size === 0) {
      this.#deadlineTimer?.cancel();
      this.#deadlineTimer = undefined;
      this.#deadlineAt = Infinity;
    }
    if (err) msg.reject(err);
    else msg.resolve();
  }

  /** Make the one send-timeout timer fire no later than `deadline`. */
  #armDeadline(deadline: number): void {
    if (this.#deadlineTimer && this.#deadlineAt <= deadline) return;
    this.#deadlineTimer?.cancel();
    this.#deadlineAt = deadline;
    this.#deadlineTimer = this.#clock.setTimeout(
      () => this.#onDeadline(),
      Math.max(0, deadline - this.#clock.now()),
    );
  }

  /**
   * Reject every message past its deadline (it may still be delivered later: receivers dedupe by
   * id) and re-arm for the earliest left. A scan of ≤ maxQueuedMessages + maxInFlightPackets, once
   * per timeout period rather than a timer per message.
   */
  #onDeadline(): void {
    this.#deadlineTimer = undefined;
    this.#deadlineAt = Infinity;
    if (this.#closed) return;
    const now = this.#clock.now();
    let next = Infinity;
    for (const m of [...this.#live]) {
      if (m.deadline <= now) {
        this.#settle(
          m,
          new SessionError(SessionErrorCode.SEND_TIMEOUT, `notification ${m.id} not acknowledged`),
        );
      } else if (m.deadline < next) next = m.deadline;
    }
    if (next < Infinity) this.#armDeadline(next);
  }

  // ---- receiver ---------------------------------------------------------------------------------

  #onPayload(payload: Uint8Array): void {
    if (this.#closed) return;
    let frames: Frame[];
    try {
      frames = decodeFrames(payload);
    } catch (e) {
      this.stats.protocolErrors++;
      this.#log.debug('reliable: bad frame', { error: String(e) });
      return;
    }
    // One ack decision per datagram, after all its frames (an ack per frame would undo batching).
    let data = 0;
    let urgent = false;
    for (const f of frames) {
      if (this.#closed) break; // what is ready still goes to the app below
      if (f.type === FrameType.DATA) {
        data++;
        if (this.#onData(f) || f.ackNow) urgent = true;
      } else this.#onControl(f);
    }
    if (data > 0 && !this.#closed) this.#scheduleAck(data, urgent);
    this.#flush();
    if (this.#ready.length > 0) this.#deliverReady();
  }

  #deliverReady(): void {
    const ready = this.#ready;
    this.#ready = [];
    for (const n of ready) {
      for (const cb of [...this.#onNotification]) {
        try {
          cb(n);
        } catch (e) {
          this.#log.warn('notification callback threw', { error: String(e) });
        }
      }
    }
  }

  #onControl(f: Exclude<Frame, { type: typeof FrameType.DATA }>): void {
    switch (f.type) {
      case FrameType.ACK:
        return this.#onAck(f);
      case FrameType.PING:
        this.#emit(encodePing(FrameType.PONG, f.nonce));
        return;
      case FrameType.PONG: {
        const p = this.#pings.get(f.nonce);
        if (!p) return;
        this.#pings.delete(f.nonce);
        p.timer.cancel();
        const rtt = this.#clock.now() - p.sentAt;
        this.#rtt.sample(rtt);
        p.resolve(rtt);
      }
    }
  }

  /** Take one data packet; true if it calls for an immediate ack (a gap or a duplicate). */
  #onData(f: Frame & { type: typeof FrameType.DATA }): boolean {
    this.#echo = f.tsval;
    if (f.epoch !== this.#remoteEpoch) {
      if (this.#retiredEpochs.includes(f.epoch)) return false;
      if (this.#remoteEpoch !== undefined) {
        // The sender restarted (a new channel): start over at its base.
        this.#retiredEpochs.push(this.#remoteEpoch);
        if (this.#retiredEpochs.length > 8) this.#retiredEpochs.shift();
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
      this.stats.outOfWindow++;
      urgent = true;
    } else {
      if (f.pn !== this.#expected) urgent = true; // a gap: tell the sender at once (SACK)
      this.#buffer.set(f.pn, f); // the plaintext buffer is ours: no copy
      this.#deliverInOrder();
    }
    return urgent;
  }

  #deliverInOrder(): void {
    for (;;) {
      const f = this.#buffer.get(this.#expected);
      if (!f) return;
      this.#buffer.delete(this.#expected);
      this.#expected++;
      this.#reassemble(f);
    }
  }

  #reassemble(f: Frame & { type: typeof FrameType.DATA }): void {
    const whole = this.#reassembler.push(f);
    if (whole) this.#complete(whole);
  }

  /** A reassembled message: decode, dedupe by id, queue for the app. */
  #complete(whole: Buffer): void {
    let n: Notification;
    try {
      n = decodeNotification(whole);
    } catch {
      this.stats.protocolErrors++;
      return;
    }
    if (this.#dedupe.seen(n.id)) {
      this.stats.duplicatesDropped++;
      return;
    }
    this.stats.notificationsDelivered++;
    this.#ready.push(n);
  }

  #scheduleAck(packets: number, urgent: boolean): void {
    this.#ackPending += packets;
    this.#ackPendingDatagrams++;
    if (
      urgent ||
      this.#ackPending >= this.#o.ackEveryPackets ||
      this.#ackPendingDatagrams >= this.#o.ackEveryDatagrams
    )
      return this.#sendAck();
    this.#ackTimer ??= this.#clock.setTimeout(() => {
      this.#ackTimer = undefined;
      if (this.#closed) return;
      this.#sendAck();
      this.#flush();
    }, this.#o.ackDelayMs);
  }

  #sendAck(): void {
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
    this.stats.acksSent++;
    this.#emit(
      encodeAck(this.#remoteEpoch, this.#expected, this.#echo, this.#o.recvWindowPackets, ranges),
    );
  }

  #transmit(frame: Uint8Array): 'sent' | 'queued' | void {
    try {
      return this.#session.send(frame);
    } catch (e) {
      if (e instanceof SessionError && e.code === SessionErrorCode.CLOSED) this.close();
      else throw e;
    }
  }
}

/** A stamp further back than this is a wrapped or bogus echo, not an RTT (RFC 6298 §2.5 cap). */
const MAX_RTT_SAMPLE_MS = 60_000;
/** Fast retransmission spacing before any RTT sample (Linux's TCP_RTO_MIN order of magnitude). */
const FAST_RETRANSMIT_GAP_MS = 200;

/** Milliseconds mod 2^32, the width of tsval/tsecr. */
function ts32(ms: number): number {
  return Math.floor(ms) >>> 0;
}

function closedError(): SessionError {
  return new SessionError(SessionErrorCode.CLOSED, 'channel closed');
}
