/**
 * STUN Binding client over UDP (RFC 8489 §6.2.1, §6.3.3; RFC 5780 CHANGE-REQUEST and PADDING).
 *
 * One `StunClient` sits on one (possibly shared) UdpSocket and runs many transactions at once,
 * to one or many servers. Retransmission, matching by transaction id and source, the bounded
 * pending table and abort are the transaction engine's (transaction.ts, whose header writes the
 * schedule down: 0, 500, 1500, … 31500 ms, timeout 39.5 s with the RFC 8489 defaults); this file
 * only wires the engine to a socket and builds and checks Binding messages.
 */
import type { Endpoint, UdpSocket } from '../net/udp.js';
import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import { silentLogger } from '../util/logger.js';
import { Attr } from './attribute-type.js';
import { readAddress, readErrorCode, readMappedAddress } from './attributes.js';
import { StunDecodeError, StunErrorResponse } from './errors.js';
import { StunMessageBuilder } from './message-builder.js';
import { BINDING_REQUEST, StunClass } from './message-type.js';
import type {
  RetransmissionOptions,
  StunResponse,
  StunTransactionStats,
  TransactionOptions,
} from './transaction.js';
import { StunTransactions } from './transaction.js';

export type { RetransmissionOptions, StunResponse } from './transaction.js';

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

export type RequestOptions = Pick<
  TransactionOptions,
  'signal' | 'retransmission' | 'anySource' | 'timeoutMs' | 'acceptEcho'
>;

export interface BindingResult extends StunResponse {
  /** Our address as the server saw it (XOR-MAPPED-ADDRESS, else MAPPED-ADDRESS). */
  mapped: Endpoint;
  /** RFC 5780 OTHER-ADDRESS and RESPONSE-ORIGIN when the server sent them. */
  otherAddress?: Endpoint;
  responseOrigin?: Endpoint;
}

/** The engine's counters (sent, retransmitted, completed, timedOut, ignored… by reason). */
export type StunClientStats = StunTransactionStats;

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

export class StunClient {
  readonly #socket: UdpSocket;
  readonly #software: string | undefined;
  readonly #transactions: StunTransactions;
  readonly #unsubscribe: (() => void)[];
  #closed = false;

  constructor(options: StunClientOptions) {
    this.#socket = options.socket;
    this.#software = options.software;
    const logger = options.logger ?? silentLogger;
    this.#transactions = new StunTransactions({
      send: (bytes, to) => this.#socket.send(bytes, to),
      logger,
      ...(options.clock ? { clock: options.clock } : {}),
      ...(options.retransmission ? { retransmission: options.retransmission } : {}),
      ...(options.maxPending !== undefined ? { maxPending: options.maxPending } : {}),
    });
    this.#unsubscribe = [
      // Shared socket: the engine takes its own responses and leaves the rest (RFC 7983).
      this.#socket.onMessage((data, from) => void this.#transactions.handle(data, from)),
      this.#socket.onError((err) => logger.debug('stun client socket error', { err: err.message })),
    ];
  }

  get stats(): StunClientStats {
    return this.#transactions.stats;
  }

  get pending(): number {
    return this.#transactions.pending;
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
    return this.#transactions.start(server, request, options);
  }

  /** Reject every outstanding transaction and stop listening; the socket stays open (shared). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const u of this.#unsubscribe) u();
    this.#transactions.close();
  }
}
