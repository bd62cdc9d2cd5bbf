/**
 * The sending half of a ReliableChannel (reliable.ts): notifications queued by `send`, packets in
 * flight, acks, retransmission and send timeouts.
 *
 * - A notification is fragmented to fit the datagram and spans consecutive pns.
 * - `send` defers its packets to a microtask so the notifications an app issues in one turn — or
 *   that the acks of one datagram release — share datagrams up to the MTU (DatagramBuilder).
 * - Send timeouts: one timer for the earliest deadline, not one per notification.
 * - Retransmission: RTO from measured RTT (RFC 6298, rtt-estimator.ts) with exponential backoff;
 *   fast retransmit of a packet when 3 later ones were acked (RFC 9002 §6.1.1 packet threshold).
 * - Flow control: never more unacked packets than the receiver's advertised window; below that,
 *   a NewReno-style AIMD congestion window (congestion-window.ts, RFC 9002 §7).
 * - Acks: the sender walks its unacked packets in pn order and stops at the cumulative point (no
 *   scan of the whole table per ack).
 */
import type { Clock, TimerHandle } from '../util/clock.js';
import { CongestionWindow } from './congestion-window.js';
import type { DatagramBuilder } from './datagram-builder.js';
import type { OutMessage, OutPacket } from './out-message.js';
import { SessionError, SessionErrorCode } from './errors.js';
import { FrameType, type Frame } from './reliable-frames.js';
import type { ReliableStats } from './reliable-options.js';
import type { RttEstimator } from './rtt-estimator.js';

export type { OutMessage } from './out-message.js';

export interface SenderOptions {
  recvWindowPackets: number;
  initialWindowPackets: number;
  minWindowPackets: number;
  maxInFlightPackets: number;
}

export class ReliableSender {
  readonly #clock: Clock;
  readonly #o: SenderOptions;
  readonly #rtt: RttEstimator;
  readonly #out: DatagramBuilder;
  readonly #stats: ReliableStats;
  /** Sends the datagram being filled (the channel's flush). */
  readonly #flush: () => void;
  readonly #isClosed: () => boolean;

  readonly epoch: number;
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
  /** `turnNow()`'s reading, while this turn's pump is scheduled. */
  #turnNow: number | undefined;

  constructor(o: {
    epoch: number;
    clock: Clock;
    options: SenderOptions;
    rtt: RttEstimator;
    out: DatagramBuilder;
    stats: ReliableStats;
    flush: () => void;
    closed: () => boolean;
  }) {
    this.epoch = o.epoch;
    this.#clock = o.clock;
    this.#o = o.options;
    this.#rtt = o.rtt;
    this.#out = o.out;
    this.#stats = o.stats;
    this.#flush = o.flush;
    this.#isClosed = o.closed;
    this.#peerWindow = o.options.recvWindowPackets;
    this.#cwnd = new CongestionWindow({
      initial: Math.min(o.options.initialWindowPackets, o.options.maxInFlightPackets),
      min: Math.min(o.options.minWindowPackets, o.options.initialWindowPackets),
      max: o.options.maxInFlightPackets,
    });
  }

  get congestion(): CongestionWindow {
    return this.#cwnd;
  }

  get inFlight(): number {
    return this.#unacked.size;
  }

  get queued(): number {
    return this.#queue.length;
  }

  get pending(): number {
    return this.#live.size;
  }

  /**
   * Clock time for the sends of this turn: read once when the first is queued and kept until
   * this turn's pump runs (a microtask later). A clock read costs ~0.15 µs (Date.now is a V8
   * runtime call); a flood queues hundreds of notifications per turn, each of which read it
   * for its deadline. The error is the length of the app's turn, against timeouts of seconds.
   */
  turnNow(): number {
    if (!this.#pumpScheduled || this.#turnNow === undefined) this.#turnNow = this.#clock.now();
    return this.#turnNow;
  }

  /** Queue a message; its packets go out on a microtask with the rest of this turn's. */
  enqueue(msg: OutMessage): void {
    this.#queue.push(msg);
    this.#live.add(msg);
    this.#armDeadline(msg.deadline);
    this.#schedulePump();
  }

  /** The path changed: what was in flight may be gone — resend it now. */
  resendAll(): void {
    this.#cwnd.reset();
    const now = this.#clock.now();
    for (const p of this.#unacked.values()) this.#sendPacket(p, true, now);
    this.#armRto(true);
  }

  close(err: Error): void {
    this.#rtoTimer?.cancel();
    this.#deadlineTimer?.cancel();
    this.#deadlineTimer = undefined;
    for (const m of [...this.#live]) this.#settle(m, err);
    this.#unacked.clear();
    this.#baseCache = undefined;
    this.#queue.length = 0;
  }

  /**
   * `send` pumps on a microtask: every notification issued in this turn (an app's loop, or the
   * continuations one datagram of acks released) joins the same datagrams.
   */
  #schedulePump(): void {
    if (this.#pumpScheduled) return;
    this.#pumpScheduled = true;
    queueMicrotask(() => {
      this.#pumpScheduled = false;
      this.#turnNow = undefined;
      if (this.#isClosed()) return;
      this.#pump();
      this.#flush();
    });
  }

  /** Send new packets while the window allows. */
  #pump(): void {
    const limit = Math.min(this.#peerWindow, this.#cwnd.packets);
    // One clock read per burst, not per packet: the packets of one pump leave in the same turn.
    let now: number | undefined;
    while (this.#queue.length > 0) {
      if (this.#unacked.size >= limit) break;
      if (this.#nextPn >= this.#peerCumulative + this.#peerWindow) break;
      const msg = this.#queue[0]!;
      let packet: OutPacket;
      if (msg.fragCount === 1) {
        msg.pn = this.#nextPn++; // its own packet (OutMessage)
        msg.nextFragment = 1;
        packet = msg;
      } else
        packet = {
          pn: this.#nextPn++,
          msg,
          fragIndex: msg.nextFragment++,
          lastSentAt: 0,
          sendCount: 0,
        };
      if (msg.nextFragment === msg.fragCount) this.#queue.shift();
      this.#unacked.set(packet.pn, packet);
      this.#sendPacket(packet, false, (now ??= this.#clock.now()));
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

  #sendPacket(p: OutPacket, retransmission: boolean, now: number): void {
    p.lastSentAt = now;
    p.sendCount++;
    if (retransmission) this.#stats.retransmissions++;
    this.#stats.packetsSent++;
    const m = p.msg;
    const tsval = ts32(p.lastSentAt);
    if (m.fragments === undefined) this.#out.addMessage(this.epoch, p.pn, this.#base(), tsval, m);
    else
      this.#out.addData(
        this.epoch,
        p.pn,
        this.#base(),
        tsval,
        p.fragIndex,
        m.fragCount,
        m.fragments[p.fragIndex]!,
      );
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
    if (this.#isClosed()) return;
    const first = this.#unacked.values().next().value;
    if (!first) return;
    this.#stats.timeouts++;
    this.#rtt.backoff();
    this.#cwnd.onTimeout(this.#nextPn);
    const now = this.#clock.now();
    for (const p of this.#unacked.values()) {
      if (p !== first && p.pn + 3 > this.#highestAcked) break;
      this.#sendPacket(p, true, now);
    }
    this.#armRto(true);
    this.#flush();
  }

  onAck(f: Frame & { type: typeof FrameType.ACK }): void {
    if (f.epoch !== this.epoch) return; // an ack for an earlier incarnation of us
    const now = this.#clock.now();
    let newest: OutPacket | undefined;
    const ack = (p: OutPacket) => {
      this.#unacked.delete(p.pn);
      if (p.pn === this.#baseCache) this.#baseCache = undefined;
      this.#cwnd.onAcked(p.pn);
      if (!newest || p.pn > newest.pn) newest = p;
      if (--p.msg.unacked === 0 && p.msg.nextFragment === p.msg.fragCount) this.#settle(p.msg);
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
      // Not a range a window could produce (ours, or the peer's advertised one: a peer built
      // with a larger receive window lets our pns span more than ours).
      if (e - s > Math.max(this.#o.recvWindowPackets, this.#peerWindow)) continue;
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
          this.#stats.fastRetransmissions++;
          this.#cwnd.onLoss(p.pn, this.#nextPn);
          this.#sendPacket(p, true, now);
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
    try {
      msg.done(err);
    } catch (e) {
      // The caller's callback must not leave an ack or a timeout half-handled: its error goes
      // up on its own (as a throw in a promise reaction would have), after this event.
      queueMicrotask(() => {
        throw e;
      });
    }
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
    if (this.#isClosed()) return;
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
}

/** A stamp further back than this is a wrapped or bogus echo, not an RTT (RFC 6298 §2.5 cap). */
const MAX_RTT_SAMPLE_MS = 60_000;
/** Fast retransmission spacing before any RTT sample (Linux's TCP_RTO_MIN order of magnitude). */
const FAST_RETRANSMIT_GAP_MS = 200;

/** Milliseconds mod 2^32, the width of tsval/tsecr. */
export function ts32(ms: number): number {
  return Math.floor(ms) >>> 0;
}
