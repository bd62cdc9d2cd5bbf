/**
 * STUN client transactions: the ONE retransmission engine of natpush (DESIGN.md "stun/"). The
 * Binding client (client.ts), the TURN client (relay/client.ts), NAT discovery and ICE-style
 * connectivity checks (punch/) all run their requests through a `StunTransactions`.
 *
 * The engine owns no socket. It is given `send(bytes, to)` and is fed every incoming datagram with
 * `handle(bytes, from)`, so the same code runs over a plain UdpSocket, over a socket shared with
 * TURN ChannelData and session datagrams (RFC 7983 demultiplexing: `handle` returns false for
 * anything that is not a response of its own, and the caller passes it on), through a TURN
 * allocation (send = Send indication / ChannelData), or over a TCP/TLS stream.
 *
 * ## Retransmission schedule — unreliable transports (UDP), RFC 8489 §6.2.1
 *
 * See retransmission.ts: RTO 500 ms doubling, Rc = 7 requests, Rm = 16 → fail at 39.5 s (or
 * LAN_RETRANSMISSION); every transaction may override the engine's schedule.
 *
 * ## Reliable transports (TCP, TLS), RFC 8489 §6.2.2
 *
 * No retransmission: the stream delivers or dies. The request is sent once and the transaction
 * fails if no response arrives within Ti = 39.5 s (TCP_TRANSACTION_TIMEOUT_MS). The TURN client
 * over TCP runs in this mode.
 *
 * ## Deadline
 *
 * A transaction may also carry `timeoutMs`, an overall deadline that ends it earlier than the
 * schedule (the TURN client gives up after 10 s; punch checks have a budget). Retransmissions
 * keep their RFC times until the deadline.
 *
 * ## Matching (RFC 8489 §6.3)
 *
 * A response completes a transaction when its transaction id is one we sent AND it comes from the
 * endpoint the request went to. A response with the right id from elsewhere is ignored and
 * counted (`ignoredWrongSource`): an off-path attacker who guesses nothing but sees our request
 * cannot complete it from another address. RFC 5780 CHANGE-REQUEST tests expect the answer from
 * the server's other address, so a transaction may set `anySource`. The RFC 5780 §4.5 hairpin test
 * waits for its own request to come back, so a transaction may set `acceptEcho`.
 * A response that fails FINGERPRINT (when present) or does not decode is dropped.
 *
 * ## Bounds
 *
 * At most `maxPending` transactions are outstanding (default 1024: a discovery burst is ~10, a
 * punch checks tens of pairs; 1024 × ~100 bytes of request kept for retransmission is ~100 KiB);
 * beyond it `start` rejects with StunOverloadedError (NATPUSH_ERR_STUN_OVERLOADED) and counts it.
 */
import type { Endpoint } from '../net/udp.js';
import { sameEndpoint } from '../net/udp.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import { systemClock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import { silentLogger } from '../util/logger.js';
import { RFC8489_RETRANSMISSION, TCP_TRANSACTION_TIMEOUT_MS } from './constants.js';
import {
  checkRetransmission,
  scheduleLengthMs,
  type RetransmissionOptions,
} from './retransmission.js';
import type {
  StunResponse,
  StunSend,
  StunTransactionsOptions,
  StunTransactionStats,
  TransactionOptions,
} from './transaction-types.js';
import {
  StunAbortedError,
  StunOverloadedError,
  StunTimeoutError,
  StunTransportError,
} from './errors.js';
import { verifyFingerprint } from './integrity.js';
import { classOf, StunClass } from './message-type.js';
import type { StunMessage } from './message.js';
import { decodeStunMessage, isStunMessage } from './message.js';

export {
  checkRetransmission,
  retransmissionTimesMs,
  scheduleLengthMs,
  type RetransmissionOptions,
} from './retransmission.js';
export type {
  StunResponse,
  StunSend,
  StunTransactionsOptions,
  StunTransactionStats,
  TransactionOptions,
} from './transaction-types.js';

interface Transaction {
  readonly key: string;
  readonly to: Endpoint;
  readonly bytes: Uint8Array;
  readonly anySource: boolean;
  readonly acceptEcho: boolean;
  readonly startedAt: number;
  /** Absolute time the transaction fails. */
  deadline: number;
  /** Absolute time of the next retransmission (Infinity: none left). */
  nextSendAt: number;
  rto: number;
  readonly schedule: RetransmissionOptions;
  attempts: number;
  timer: TimerHandle | undefined;
  resolve(r: StunResponse): void;
  reject(e: Error): void;
  detach(): void;
}

export const DEFAULT_MAX_PENDING_TRANSACTIONS = 1024;
/** Node fires a setTimeout longer than 2^31 − 1 ms after 1 ms; longer waits are re-armed. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class StunTransactions {
  readonly stats: StunTransactionStats = {
    sent: 0,
    retransmitted: 0,
    completed: 0,
    timedOut: 0,
    aborted: 0,
    sendFailed: 0,
    overloaded: 0,
    ignoredUnknownTransaction: 0,
    ignoredWrongSource: 0,
    ignoredMalformed: 0,
  };
  readonly #send: StunSend;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #reliable: boolean;
  readonly #retransmission: RetransmissionOptions;
  readonly #reliableTimeoutMs: number;
  readonly #maxPending: number;
  readonly #pending = new Map<string, Transaction>();
  #closed = false;

  constructor(options: StunTransactionsOptions) {
    if (typeof options.send !== 'function') throw new TypeError('StunTransactions needs send()');
    this.#send = options.send;
    this.#clock = options.clock ?? systemClock;
    this.#logger = options.logger ?? silentLogger;
    this.#reliable = options.transport === 'reliable';
    this.#retransmission = checkRetransmission({
      ...RFC8489_RETRANSMISSION,
      ...options.retransmission,
    });
    this.#reliableTimeoutMs = options.reliableTimeoutMs ?? TCP_TRANSACTION_TIMEOUT_MS;
    if (!(this.#reliableTimeoutMs > 0) || !Number.isFinite(this.#reliableTimeoutMs))
      throw new RangeError(`reliableTimeoutMs must be > 0, got ${this.#reliableTimeoutMs}`);
    this.#maxPending = options.maxPending ?? DEFAULT_MAX_PENDING_TRANSACTIONS;
    if (!Number.isInteger(this.#maxPending) || this.#maxPending < 1)
      throw new RangeError(`maxPending must be a positive integer, got ${this.#maxPending}`);
  }

  /** Outstanding transactions. */
  get pending(): number {
    return this.#pending.size;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Send an encoded STUN request to `to` and retransmit it until a matching response arrives.
   * Resolves with success and error responses alike (TURN handles 401/438 itself); rejects with
   * StunTimeoutError, StunAbortedError, StunOverloadedError or StunTransportError. Throws
   * TypeError for bytes that are not a STUN request or a transaction id already in flight.
   */
  start(
    to: Endpoint,
    request: Uint8Array,
    options: TransactionOptions = {},
  ): Promise<StunResponse> {
    if (!isStunMessage(request) || classOfBytes(request) !== StunClass.Request)
      throw new TypeError('request is not an encoded STUN request');
    const key = txKey(request);
    if (this.#pending.has(key)) throw new TypeError('transaction id already in use');
    const schedule = checkRetransmission({ ...this.#retransmission, ...options.retransmission });
    if (options.timeoutMs !== undefined && !(options.timeoutMs > 0 && options.timeoutMs < Infinity))
      throw new RangeError(`timeoutMs must be > 0, got ${options.timeoutMs}`);
    if (this.#closed) return Promise.reject(new StunTransportError('STUN transactions closed'));
    if (options.signal?.aborted)
      return Promise.reject(new StunAbortedError(undefined, { cause: options.signal.reason }));
    if (this.#pending.size >= this.#maxPending) {
      this.stats.overloaded++;
      return Promise.reject(
        new StunOverloadedError(`more than ${this.#maxPending} outstanding STUN transactions`),
      );
    }
    const now = this.#clock.now();
    const natural = this.#reliable ? this.#reliableTimeoutMs : scheduleLengthMs(schedule);
    const limit = Math.min(natural, options.timeoutMs ?? Infinity);
    return new Promise<StunResponse>((resolve, reject) => {
      const signal = options.signal;
      const onAbort = (): void => {
        this.#settle(t);
        this.stats.aborted++;
        reject(new StunAbortedError(undefined, { cause: signal?.reason }));
      };
      const t: Transaction = {
        key,
        to,
        bytes: Uint8Array.from(request), // the caller may reuse its buffer
        anySource: options.anySource === true || options.acceptEcho === true,
        acceptEcho: options.acceptEcho === true,
        startedAt: now,
        deadline: now + limit,
        nextSendAt: now,
        rto: schedule.rtoMs,
        schedule,
        attempts: 0,
        timer: undefined,
        resolve,
        reject,
        detach: () => signal?.removeEventListener('abort', onAbort),
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#pending.set(key, t);
      this.#transmit(t);
    });
  }

  /**
   * Feed an incoming datagram (or stream frame). Returns true when it completed one of our
   * transactions; false for everything else, which the caller may hand to other listeners.
   */
  handle(bytes: Uint8Array, from: Endpoint): boolean {
    // RFC 7983: on a shared socket, non-STUN bytes belong to someone else; not counted.
    if (!isStunMessage(bytes)) return false;
    const cls = classOfBytes(bytes);
    const response = cls === StunClass.Success || cls === StunClass.Error;
    const t = this.#pending.get(txKey(bytes));
    if (!t) {
      if (response) this.stats.ignoredUnknownTransaction++;
      return false;
    }
    if (!response && !(t.acceptEcho && cls === StunClass.Request)) return false;
    if (!t.anySource && !sameEndpoint(from, t.to)) {
      this.stats.ignoredWrongSource++;
      return false;
    }
    let message: StunMessage;
    try {
      message = decodeStunMessage(bytes);
    } catch {
      this.stats.ignoredMalformed++;
      return false;
    }
    if (message.fingerprintOffset >= 0 && !verifyFingerprint(message)) {
      this.stats.ignoredMalformed++;
      return false;
    }
    this.#settle(t);
    this.stats.completed++;
    t.resolve({ message, from, rttMs: this.#clock.now() - t.startedAt, attempts: t.attempts });
    return true;
  }

  /**
   * RFC 8445 §7.3.1.4 "cancel" of an in-progress check: send no more retransmissions, but keep
   * listening for a response for Rm × RTO (or until the current deadline, if sooner) before the
   * transaction times out. `transactionId` is the 12-byte id (bytes 8–20 of the request).
   * Returns false when no such transaction is outstanding.
   */
  stopRetransmitting(transactionId: Uint8Array): boolean {
    if (transactionId.length !== 12) throw new RangeError('a transaction id is 12 bytes');
    const t = this.#pending.get(Buffer.from(transactionId).toString('latin1'));
    if (!t) return false;
    t.timer?.cancel();
    t.nextSendAt = Infinity;
    const now = this.#clock.now();
    t.deadline = Math.min(t.deadline, now + t.schedule.rtoMs * t.schedule.lastWaitMultiplier);
    this.#arm(t);
    return true;
  }

  /** Reject every outstanding transaction (StunTransportError, or `reason`) and refuse new ones. */
  close(reason?: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    this.failAll(reason ?? new StunTransportError('STUN transactions closed'));
  }

  /** Reject every outstanding transaction with `error` (the transport died) but stay usable. */
  failAll(error: Error): void {
    for (const t of [...this.#pending.values()]) {
      this.#settle(t);
      t.reject(error);
    }
  }

  #settle(t: Transaction): void {
    t.timer?.cancel();
    t.timer = undefined;
    t.detach();
    this.#pending.delete(t.key);
  }

  /** Send now, then arm the one timer for whichever comes first: next retransmission or deadline. */
  #transmit(t: Transaction): void {
    t.attempts++;
    this.stats.sent++;
    if (t.attempts > 1) this.stats.retransmitted++;
    try {
      this.#send(t.bytes, t.to);
    } catch (err) {
      this.#settle(t);
      this.stats.sendFailed++;
      this.#logger.debug('stun request send failed', { to: t.to, err: String(err) });
      t.reject(new StunTransportError('cannot send STUN request', { cause: err }));
      return;
    }
    // RFC 8489 §6.2.1: the next request leaves RTO after this one, and RTO doubles. After the
    // Rc-th request nothing more is sent (the deadline already includes the Rm·RTO wait).
    if (!this.#reliable && t.attempts < t.schedule.maxRequests) {
      t.nextSendAt += t.rto;
      t.rto *= 2;
    } else {
      t.nextSendAt = Infinity;
    }
    this.#arm(t);
  }

  #arm(t: Transaction): void {
    const at = Math.min(t.nextSendAt, t.deadline);
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, at - this.#clock.now()));
    t.timer = this.#clock.setTimeout(() => {
      t.timer = undefined;
      const now = this.#clock.now();
      if (now >= t.deadline) this.#timeout(t);
      else if (now >= t.nextSendAt) this.#transmit(t);
      else this.#arm(t); // a delay longer than a timer can hold, cut at MAX_TIMER_MS
    }, delay);
  }

  #timeout(t: Transaction): void {
    this.#settle(t);
    this.stats.timedOut++;
    t.reject(
      new StunTimeoutError(
        `no STUN response from ${t.to.address}:${t.to.port} after ${t.attempts} request${t.attempts === 1 ? '' : 's'} in ${this.#clock.now() - t.startedAt} ms`,
        t.attempts,
      ),
    );
  }
}

/** RFC 8489 §5: the class bits of the message type in bytes 0–1. */
function classOfBytes(b: Uint8Array): StunClass {
  return classOf((b[0]! << 8) | b[1]!);
}

/** The 12-byte transaction id (bytes 8–20) as a map key. */
function txKey(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset + 8, 12).toString('latin1');
}
