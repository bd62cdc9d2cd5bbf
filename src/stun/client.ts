/**
 * STUN client transactions over UDP (RFC 8489 §6.2.1, §6.3.3).
 *
 * One `StunClient` sits on one (possibly shared) UdpSocket and runs many transactions at once,
 * to one or many servers. Each transaction:
 *   t=0        send request
 *   t=RTO      retransmit      (RTO doubles after each send: 500, 1000, 2000, ... ms)
 *   ...        until Rc requests were sent; then wait Rm × RTO for the last one
 *   timeout    reject with StunTimeoutError (39.5 s with the RFC 8489 defaults)
 * A response is matched by transaction id AND by the endpoint the request went to (unless the
 * caller expects a different source, as RFC 5780 CHANGE-REQUEST tests do); anything else is
 * ignored and counted, so a spoofed or stray packet cannot complete a transaction.
 */
import type { Endpoint, UdpSocket } from '../net/udp.js';
import { sameEndpoint } from '../net/udp.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import { systemClock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import { silentLogger } from '../util/logger.js';
import { Attr } from './attribute-type.js';
import { readAddress, readErrorCode, readMappedAddress } from './attributes.js';
import { RFC8489_RETRANSMISSION } from './constants.js';
import {
  StunAbortedError,
  StunDecodeError,
  StunErrorResponse,
  StunOverloadedError,
  StunTimeoutError,
  StunTransportError,
} from './errors.js';
import { verifyFingerprint } from './integrity.js';
import { StunMessageBuilder } from './message-builder.js';
import { BINDING_REQUEST, StunClass } from './message-type.js';
import type { StunMessage } from './message.js';
import { decodeStunMessage, isStunMessage } from './message.js';

export interface RetransmissionOptions {
  /** Initial retransmission timeout; default 500 ms (RFC 8489 §6.2.1). */
  rtoMs: number;
  /** Rc: total requests sent; default 7. */
  maxRequests: number;
  /** Rm: wait this many initial RTOs after the last request; default 16. */
  lastWaitMultiplier: number;
}

export interface StunClientOptions {
  socket: UdpSocket;
  clock?: Clock;
  logger?: Logger;
  /** Default retransmission schedule; RFC8489_RETRANSMISSION unless given (LAN_RETRANSMISSION
   *  for fast networks). */
  retransmission?: Partial<RetransmissionOptions>;
  /** Outstanding transactions allowed; default 1024 (bounds memory under misuse). */
  maxPending?: number;
  /** SOFTWARE attribute on requests; default none (keeps requests small). */
  software?: string;
}

export interface RequestOptions {
  signal?: AbortSignal;
  retransmission?: Partial<RetransmissionOptions>;
  /** Accept the response from any source (RFC 5780 CHANGE-REQUEST tests); default false. */
  anySource?: boolean;
}

export interface StunResponse {
  message: StunMessage;
  /** Where the response came from. */
  from: Endpoint;
  /** Time from the first request to the response, ms (RFC 8489 §6.2.1 would use the
   *  last request for RTO estimation; the first is what a person waits). */
  rttMs: number;
  /** Requests sent, 1 + retransmissions. */
  attempts: number;
}

export interface BindingResult extends StunResponse {
  /** Our address as the server saw it (XOR-MAPPED-ADDRESS, else MAPPED-ADDRESS). */
  mapped: Endpoint;
  /** RFC 5780 OTHER-ADDRESS and RESPONSE-ORIGIN when the server sent them. */
  otherAddress?: Endpoint;
  responseOrigin?: Endpoint;
}

export interface StunClientStats {
  sent: number;
  retransmitted: number;
  completed: number;
  timedOut: number;
  ignoredUnknownTransaction: number;
  ignoredWrongSource: number;
  ignoredMalformed: number;
}

interface Pending {
  server: Endpoint;
  bytes: Uint8Array;
  anySource: boolean;
  startedAt: number;
  attempts: number;
  timer: TimerHandle | undefined;
  resolve(r: StunResponse): void;
  reject(e: Error): void;
  cleanup(): void;
}

const DEFAULT_MAX_PENDING = 1024;

/** Comprehension-required attributes a Binding success response may carry (RFC 8489 §14,
 *  RFC 5780 §7). */
const BINDING_RESPONSE_ATTRIBUTES: ReadonlySet<number> = new Set([
  Attr.XorMappedAddress,
  Attr.MappedAddress,
  Attr.MessageIntegrity,
  Attr.MessageIntegritySha256,
  Attr.Username,
  Attr.Realm,
  Attr.Nonce,
  Attr.Userhash,
  Attr.PasswordAlgorithm,
  Attr.ErrorCode,
  Attr.UnknownAttributes,
  Attr.Padding,
]);

function txKey(id: Uint8Array): string {
  return Buffer.from(id.buffer, id.byteOffset, id.length).toString('latin1');
}

export class StunClient {
  readonly stats: StunClientStats = {
    sent: 0,
    retransmitted: 0,
    completed: 0,
    timedOut: 0,
    ignoredUnknownTransaction: 0,
    ignoredWrongSource: 0,
    ignoredMalformed: 0,
  };
  readonly #socket: UdpSocket;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #retransmission: RetransmissionOptions;
  readonly #maxPending: number;
  readonly #software: string | undefined;
  readonly #pending = new Map<string, Pending>();
  readonly #unsubscribe: (() => void)[];
  #closed = false;

  constructor(options: StunClientOptions) {
    this.#socket = options.socket;
    this.#clock = options.clock ?? systemClock;
    this.#logger = options.logger ?? silentLogger;
    this.#retransmission = checkRetransmission({
      ...RFC8489_RETRANSMISSION,
      ...options.retransmission,
    });
    this.#maxPending = options.maxPending ?? DEFAULT_MAX_PENDING;
    this.#software = options.software;
    this.#unsubscribe = [
      this.#socket.onMessage((data, from) => this.#onMessage(data, from)),
      this.#socket.onError((err) =>
        this.#logger.debug('stun client socket error', { err: err.message }),
      ),
    ];
  }

  get pending(): number {
    return this.#pending.size;
  }

  /** A Binding request; resolves with our reflexive address, rejects with a typed error. */
  async binding(
    server: Endpoint,
    options: RequestOptions & {
      changeRequest?: { ip?: boolean; port?: boolean };
      padTo?: number;
    } = {},
  ): Promise<BindingResult> {
    const b = new StunMessageBuilder(BINDING_REQUEST);
    if (options.changeRequest) b.addChangeRequest(options.changeRequest);
    if (this.#software) b.addString(Attr.Software, this.#software);
    // RFC 5780 §7.6 PADDING lets a client make its request as large as the response it wants,
    // so a server that limits amplification can still include OTHER-ADDRESS etc.
    if (options.padTo && options.padTo > b.length + 12)
      b.addBytes(Attr.Padding, new Uint8Array(options.padTo - b.length - 12));
    b.addFingerprint();
    const res = await this.request(server, b.build(), options);
    if (res.message.cls === StunClass.Error) {
      const ec = readErrorCode(res.message);
      throw new StunErrorResponse(ec?.code ?? 0, ec?.reason ?? 'error response without ERROR-CODE');
    }
    // RFC 8489 §6.3.3: a success response with unknown comprehension-required attributes fails
    // the transaction.
    const unknown = res.message.unknownComprehensionRequired(BINDING_RESPONSE_ATTRIBUTES);
    if (unknown.length > 0) {
      throw new StunDecodeError(
        `Binding response with unknown required attributes ${unknown.join(', ')}`,
      );
    }
    const mapped = readMappedAddress(res.message);
    if (!mapped) throw new StunDecodeError('Binding success response without a mapped address');
    const result: BindingResult = { ...res, mapped };
    const other = readAddress(res.message, Attr.OtherAddress);
    const origin = readAddress(res.message, Attr.ResponseOrigin);
    if (other) result.otherAddress = other;
    if (origin) result.responseOrigin = origin;
    return result;
  }

  /**
   * Send an encoded request and retransmit it until a matching response arrives. Resolves with
   * success and error responses alike (TURN callers handle 401/438 themselves).
   */
  request(
    server: Endpoint,
    request: Uint8Array,
    options: RequestOptions = {},
  ): Promise<StunResponse> {
    if (this.#closed) return Promise.reject(new StunTransportError('STUN client is closed'));
    if (!isStunMessage(request)) throw new TypeError('request is not an encoded STUN message');
    if (options.signal?.aborted)
      return Promise.reject(new StunAbortedError(undefined, { cause: options.signal.reason }));
    if (this.#pending.size >= this.#maxPending) {
      return Promise.reject(
        new StunOverloadedError(`more than ${this.#maxPending} outstanding STUN transactions`),
      );
    }
    const schedule = checkRetransmission({ ...this.#retransmission, ...options.retransmission });
    const key = txKey(request.subarray(8, 20));
    if (this.#pending.has(key)) throw new TypeError('transaction id already in use');
    const bytes = Uint8Array.from(request); // the caller may reuse its buffer
    return new Promise<StunResponse>((resolve, reject) => {
      const onAbort = (): void => {
        p.cleanup();
        reject(new StunAbortedError(undefined, { cause: options.signal?.reason }));
      };
      const p: Pending = {
        server,
        bytes,
        anySource: options.anySource ?? false,
        startedAt: this.#clock.now(),
        attempts: 0,
        timer: undefined,
        resolve,
        reject,
        cleanup: () => {
          p.timer?.cancel();
          this.#pending.delete(key);
          options.signal?.removeEventListener('abort', onAbort);
        },
      };
      options.signal?.addEventListener('abort', onAbort, { once: true });
      this.#pending.set(key, p);
      this.#transmit(p, schedule, schedule.rtoMs);
    });
  }

  /** Reject every outstanding transaction and stop listening; the socket stays open (shared). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const u of this.#unsubscribe) u();
    for (const p of [...this.#pending.values()]) {
      p.cleanup();
      p.reject(new StunTransportError('STUN client closed'));
    }
  }

  #transmit(p: Pending, s: RetransmissionOptions, rto: number): void {
    p.attempts++;
    this.stats.sent++;
    if (p.attempts > 1) this.stats.retransmitted++;
    try {
      this.#socket.send(p.bytes, p.server);
    } catch (err) {
      p.cleanup();
      p.reject(new StunTransportError('cannot send STUN request', { cause: err }));
      return;
    }
    if (p.attempts < s.maxRequests) {
      p.timer = this.#clock.setTimeout(() => this.#transmit(p, s, rto * 2), rto);
      return;
    }
    // RFC 8489 §6.2.1: after the last request wait Rm times the (initial) RTO.
    p.timer = this.#clock.setTimeout(() => {
      p.cleanup();
      this.stats.timedOut++;
      p.reject(
        new StunTimeoutError(
          `no STUN response from ${p.server.address}:${p.server.port} after ${p.attempts} requests`,
          p.attempts,
        ),
      );
    }, s.rtoMs * s.lastWaitMultiplier);
  }

  #onMessage(data: Uint8Array, from: Endpoint): void {
    // Shared socket: anything that is not a STUN response is someone else's (RFC 7983).
    if (!isStunMessage(data) || (data[0]! & 0x01) === 0) return;
    const p = this.#pending.get(txKey(data.subarray(8, 20)));
    if (!p) {
      this.stats.ignoredUnknownTransaction++;
      return;
    }
    if (!p.anySource && !sameEndpoint(from, p.server)) {
      this.stats.ignoredWrongSource++;
      return;
    }
    let message: StunMessage;
    try {
      message = decodeStunMessage(data);
    } catch {
      this.stats.ignoredMalformed++;
      return;
    }
    if (message.cls !== StunClass.Success && message.cls !== StunClass.Error) return;
    if (message.fingerprintOffset >= 0 && !verifyFingerprint(message)) {
      this.stats.ignoredMalformed++;
      return;
    }
    p.cleanup();
    this.stats.completed++;
    p.resolve({ message, from, rttMs: this.#clock.now() - p.startedAt, attempts: p.attempts });
  }
}

function checkRetransmission(r: RetransmissionOptions): RetransmissionOptions {
  if (
    !(r.rtoMs > 0) ||
    !Number.isInteger(r.maxRequests) ||
    r.maxRequests < 1 ||
    !(r.lastWaitMultiplier > 0)
  ) {
    throw new RangeError(`bad retransmission options ${JSON.stringify(r)}`);
  }
  return r;
}
