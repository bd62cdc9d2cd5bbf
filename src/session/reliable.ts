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
 *   datagram's notifications reach the app. Of the immediate acks due in one JS task (a batch
 *   from recvmmsg), the first goes at once and the rest are one at the task's end
 *   (reliable-receiver.ts `scheduleAck`). The sender walks its unacked packets in pn order and
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
 *   deduped (bounded) so a notification a new incarnation sends again is not delivered twice —
 *   unless `dedupeCapacity` is 0, for a user that dedupes above (Peer's Inbox, across rungs).
 *
 * One concept per file: options and defaults (reliable-options.ts), wire frames
 * (reliable-frames.ts), the datagram being filled (datagram-builder.ts), the sender's state
 * machine (reliable-sender.ts), the receiver's (reliable-receiver.ts), the congestion window
 * (congestion-window.ts), RTT/RTO (rtt-estimator.ts), reassembly (reassembly.ts), dedupe
 * (recent-ids.ts), datagrams arriving from inside our own send (inbound-queue.ts); this file
 * checks what the app sends, routes the frames of each datagram to the two halves, and answers
 * pings.
 */
import { randomBytes } from 'node:crypto';
import type { Clock, TimerHandle } from '../util/clock.js';
import { silentLogger, type Logger } from '../util/logger.js';
import { SessionError, SessionErrorCode } from './errors.js';
import {
  DATA_HEADER_BYTES,
  encodePing,
  FrameError,
  FrameReader,
  FrameType,
  MAX_ACK_BYTES,
  type Frame,
} from './reliable-frames.js';
import { isValidId, isValidTopic, type Notification } from './notification-codec.js';
import { DatagramBuilder } from './datagram-builder.js';
import { InboundQueue } from './inbound-queue.js';
import {
  newReliableStats,
  RELIABLE_DEFAULTS,
  type DatagramSession,
  type ReliableOptions,
  type ReliableStats,
} from './reliable-options.js';
import { ReliableReceiver } from './reliable-receiver.js';
import { outMessage } from './out-message.js';
import { ReliableSender } from './reliable-sender.js';
import { RttEstimator } from './rtt-estimator.js';
import { MAX_DATAGRAM_BYTES, TRANSPORT_OVERHEAD } from './wire.js';

export type { Notification } from './notification-codec.js';

export {
  RELIABLE_DEFAULTS,
  type DatagramSession,
  type ReliableOptions,
  type ReliableStats,
} from './reliable-options.js';

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

  /** Decodes received payloads (data frames into reused objects: FrameReader). */
  readonly #reader = new FrameReader();
  /** The outgoing datagram being filled (datagram-builder.ts), shared by both halves. */
  readonly #out: DatagramBuilder;
  readonly #sender: ReliableSender;
  readonly #receiver: ReliableReceiver;
  /** Payloads that arrive from inside our own send wait for the event under way (re-entry). */
  readonly #inbound: InboundQueue;

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

  readonly stats: ReliableStats = newReliableStats();

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
    // Larger, and every full datagram would make the session's send throw from a timer.
    if (this.#o.mtu > MAX_DATAGRAM_BYTES) throw new RangeError(`mtu ${this.#o.mtu} too large`);
    this.#maxPayload = this.#o.mtu - TRANSPORT_OVERHEAD;
    this.#out = new DatagramBuilder(
      this.#maxPayload,
      (payload) => this.#transmit(payload),
      (length) => this.#log.warn('reliable: frame larger than a datagram dropped', { length }),
    );
    this.#fragmentBytes = this.#maxPayload - DATA_HEADER_BYTES;
    const closed = () => this.#closed;
    const flush = () => this.#out.flush();
    this.#sender = new ReliableSender({
      epoch: randomBytes(4).readUInt32LE(0),
      clock: o.clock,
      options: this.#o,
      rtt: this.#rtt,
      out: this.#out,
      stats: this.stats,
      flush,
      closed,
    });
    this.#receiver = new ReliableReceiver({
      clock: o.clock,
      options: this.#o,
      stats: this.stats,
      emit: (frame) => this.#out.add(frame),
      flush,
      closed,
    });
    this.#inbound = new InboundQueue({
      handle: (p) => this.#onPayload(p),
      closed,
      onDrop: () => this.#log.debug('reliable: payload dropped, too many arrived during a send'),
    });
    this.#unsubscribe = this.#session.onMessage((p) => this.#inbound.receive(p));
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
    const c = this.#sender.congestion;
    return { window: c.packets, slowStart: c.inSlowStart, ...c.stats };
  }

  /** Packets sent and not yet acknowledged. */
  get inFlight(): number {
    return this.#sender.inFlight;
  }

  /** Packets held out of order awaiting a gap (≤ recvWindowPackets). */
  get buffered(): number {
    return this.#receiver.buffered;
  }

  /**
   * Notifications accepted by `send` whose promise has not settled (not yet acknowledged, timed
   * out or closed). A timed-out one is no longer counted, though its packets are still resent.
   */
  get pending(): number {
    return this.#sender.pending;
  }

  onNotification(cb: (n: Notification) => void): () => void {
    this.#onNotification.add(cb);
    return () => this.#onNotification.delete(cb);
  }

  /**
   * Send one notification; resolves when the remote acknowledged every fragment. Rejects with
   * SEND_TIMEOUT (it may still be delivered: receivers dedupe by id), BACKPRESSURE, or CLOSED.
   */
  send(n: Notification, o?: { timeoutMs?: number }): Promise<void> {
    const bodyBytes = this.#check(n); // misuse throws here, not as a rejection
    return new Promise<void>((resolve, reject) =>
      this.#post(n, bodyBytes, (err) => (err ? reject(err) : resolve()), o?.timeoutMs),
    );
  }

  /**
   * `send` without a promise, for a caller that keeps its own (Peer's Outbox: one promise per
   * `notify` is the app's; a second one here, with its two resolving functions and a reaction,
   * was garbage per notification). `done` is called exactly once: with no argument when the
   * remote acknowledged every fragment, else with SEND_TIMEOUT, BACKPRESSURE or CLOSED. An ack
   * or a timeout calls it from inside the channel's event (no microtask hop); a refusal at once
   * (BACKPRESSURE, CLOSED) on a microtask, never from inside `post`. Misuse throws, as `send`.
   */
  post(n: Notification, done: (err?: Error) => void, o?: { timeoutMs?: number }): void {
    this.#post(n, this.#check(n), done, o?.timeoutMs);
  }

  /** Misuse (TypeError, RangeError) throws; returns the body's UTF-8 length. */
  #check(n: Notification): number {
    if (!isValidId(n.id)) throw new TypeError('notification id must match ^[A-Za-z0-9_.:-]{1,64}$');
    if (n.topic !== undefined && !isValidTopic(n.topic)) throw new TypeError('invalid topic');
    if (typeof n.body !== 'string') throw new TypeError('body must be a string');
    const bodyBytes = Buffer.byteLength(n.body);
    if (bodyBytes > this.#o.maxBodyBytes)
      throw new RangeError(`body larger than ${this.#o.maxBodyBytes} bytes`);
    return bodyBytes;
  }

  #post(
    n: Notification,
    bodyBytes: number,
    done: (err?: Error) => void,
    timeoutMs: number | undefined,
  ): void {
    if (this.#closed) return queueMicrotask(() => done(closedError()));
    if (this.#sender.queued >= this.#o.maxQueuedMessages)
      return queueMicrotask(() =>
        done(new SessionError(SessionErrorCode.BACKPRESSURE, 'too many notifications queued')),
      );
    const deadline = this.#sender.turnNow() + (timeoutMs ?? this.#o.sendTimeoutMs);
    const msg = outMessage(n, bodyBytes, this.#fragmentBytes, done, deadline);
    this.stats.notificationsSent++;
    this.#sender.enqueue(msg);
  }

  /**
   * Clock time of this turn's sends: one clock read per burst of `send`/`post` calls rather than
   * one per notification (ReliableSender.turnNow). For a caller that stamps each send too.
   */
  turnNow(): number {
    return this.#sender.turnNow();
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
      this.#out.add(encodePing(FrameType.PING, nonce));
      this.#out.flush();
    });
  }

  /**
   * The path changed: its RTT is unknown (RFC 9000 §9.4) unless the caller measured it (`rttMs`,
   * the new pair's check), and what was in flight on the old path may be gone — resend it now.
   */
  pathChanged(rttMs?: number): void {
    if (this.#closed) return;
    this.#rtt.reset(rttMs);
    this.#sender.resendAll();
    this.#out.flush();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#unsubscribe();
    this.#receiver.close();
    const err = closedError();
    this.#sender.close(err);
    this.#out.clear();
    this.#inbound.clear();
    for (const p of this.#pings.values()) {
      p.timer.cancel();
      p.reject(err);
    }
    this.#pings.clear();
  }

  #onPayload(payload: Uint8Array): void {
    if (this.#closed) return;
    let frames: Frame[];
    try {
      frames = this.#reader.read(payload);
    } catch (e) {
      this.stats.protocolErrors++;
      // FrameError (NATPUSH_ERR_SESSION_BAD_FRAME): the whole datagram is dropped, never thrown
      // out of the session's handler; its data frames, unacked, are retransmitted by the sender.
      this.#log.debug('reliable: bad frame', {
        code: e instanceof FrameError ? e.code : undefined,
        error: String(e),
      });
      return;
    }
    // One ack decision per datagram, after all its frames (an ack per frame would undo batching).
    let data = 0;
    let urgent = false;
    try {
      for (const f of frames) {
        if (this.#closed) break; // what is ready still goes to the app below
        if (f.type === FrameType.DATA) {
          data++;
          if (this.#receiver.onData(f) || f.ackNow) urgent = true;
        } else this.#onControl(f);
      }
    } finally {
      this.#reader.done(frames); // its data frames are reused by the next datagram's read
    }
    if (data > 0 && !this.#closed) this.#receiver.scheduleAck(data, urgent);
    this.#out.flush();
    const ready = this.#receiver.takeReady();
    if (ready.length > 0) this.#deliver(ready);
  }

  #deliver(ready: Notification[]): void {
    // One copy of the listeners per datagram (one may unsubscribe from inside), not per message;
    // one that unsubscribed gets nothing more.
    const listeners = [...this.#onNotification];
    for (const n of ready) {
      for (const cb of listeners) {
        if (!this.#onNotification.has(cb)) continue;
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
        return this.#sender.onAck(f);
      case FrameType.PING:
        this.#out.add(encodePing(FrameType.PONG, f.nonce));
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

  #transmit(frame: Uint8Array): 'sent' | 'queued' | void {
    this.#inbound.sendBegin();
    try {
      return this.#session.send(frame);
    } catch (e) {
      if (e instanceof SessionError && e.code === SessionErrorCode.CLOSED) this.close();
      else throw e;
    } finally {
      this.#inbound.sendEnd();
    }
  }
}

function closedError(): SessionError {
  return new SessionError(SessionErrorCode.CLOSED, 'channel closed');
}
