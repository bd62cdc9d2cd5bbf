/**
 * The TURN client's requests with long-term credentials (RFC 8489 §9.2.3), on the STUN
 * transaction engine (stun/transaction.ts): the first request goes without credentials to learn
 * REALM and NONCE from the 401; a 438 is retried once with the new NONCE; success responses must
 * verify. Failures become TurnClientErrors with the wire code (and ALTERNATE-SERVER on a 300).
 */
import type { Endpoint } from '../../net/index.js';
import type { StunMessage, StunTransactionStats } from '../../stun/index.js';
import {
  Attr,
  longTermKey,
  Method,
  readAddress,
  readErrorCode,
  readString,
  StunClass,
  StunMessageBuilder,
  StunOverloadedError,
  StunTimeoutError,
  StunTransactions,
  verifyIntegrity,
} from '../../stun/index.js';
import type { Clock } from '../../util/clock.js';
import type { Logger } from '../../util/logger.js';
import { CLIENT_REQUEST_TIMEOUT_MS } from '../constants.js';
import { TURN_ERR, TurnClientError } from '../errors.js';
import type { TurnClientTransport } from './client-transport.js';

export interface TurnRequestsOptions {
  server: Endpoint;
  username: string;
  password: string;
  transport: TurnClientTransport;
  clock: Clock;
  logger: Logger;
  requestTimeoutMs: number | undefined;
  maxPending: number;
  /** Counted on each 438 retried. */
  onStaleNonce: () => void;
}

export class TurnRequests {
  readonly #o: TurnRequestsOptions;
  readonly #transactions: StunTransactions;
  #realm: string | undefined;
  #nonce: string | undefined;
  #key: Uint8Array | undefined;

  constructor(o: TurnRequestsOptions) {
    this.#o = o;
    const transport = o.transport;
    this.#transactions = new StunTransactions({
      // The transport is bound to the server: `to` is always the server. A closed transport (the
      // owner closed the shared socket) fails the request now rather than at its timeout.
      send: (bytes) => {
        if (transport.closed) throw new Error('TURN transport closed');
        transport.send(bytes);
      },
      clock: o.clock,
      logger: o.logger,
      // RFC 8489 §6.2.2: no retransmission over TCP; §6.2.1 schedule over UDP.
      transport: transport.stream ? 'reliable' : 'datagram',
      maxPending: o.maxPending,
    });
  }

  get stats(): StunTransactionStats {
    return this.#transactions.stats;
  }

  /** A response to one of our transactions: consumed (true) or not ours (false). */
  handle(frame: Uint8Array): boolean {
    // The transport passes only the server's frames, so the source is the server.
    return this.#transactions.handle(frame, this.#o.server);
  }

  failAll(err: Error): void {
    this.#transactions.failAll(err);
  }

  close(err: Error): void {
    this.#transactions.close(err);
  }

  /**
   * Send a request with long-term credentials: the first time without them to learn REALM and
   * NONCE from the 401; on 438 retry once with the new NONCE.
   */
  async authenticated(method: number, add: (b: StunMessageBuilder) => void): Promise<StunMessage> {
    for (let attempt = 0; ; attempt++) {
      const b = StunMessageBuilder.of(method, StunClass.Request);
      add(b);
      if (this.#key !== undefined) {
        b.addString(Attr.Username, this.#o.username)
          .addString(Attr.Realm, this.#realm!)
          .addString(Attr.Nonce, this.#nonce!)
          .addIntegrity(this.#key);
      }
      b.addFingerprint();
      const res = await this.#transact(b);
      if (res.cls === StunClass.Success) {
        if (this.#key !== undefined && !verifyIntegrity(res, this.#key)) {
          throw new TurnClientError(TURN_ERR.PROTOCOL, 'response failed MESSAGE-INTEGRITY');
        }
        return res;
      }
      const err = readErrorCode(res);
      const code = err?.code ?? 0;
      if ((code === 401 || code === 438) && attempt < 2 && this.#learnChallenge(res, code))
        continue;
      const alternate =
        code === 300 ? safe(() => readAddress(res, Attr.AlternateServer)) : undefined;
      throw new TurnClientError(
        TURN_ERR.REJECTED,
        `TURN ${methodName(method)} rejected: ${code} ${err?.reason ?? ''}`.trim(),
        code,
        alternate ? { alternate } : undefined,
      );
    }
  }

  /** Take REALM/NONCE from a 401/438; false when retrying would not help. */
  #learnChallenge(res: StunMessage, code: number): boolean {
    const realm = readString(res, Attr.Realm);
    const nonce = readString(res, Attr.Nonce);
    if (nonce === undefined) return false;
    const hadKey = this.#key !== undefined;
    if (code === 401 && hadKey && realm === this.#realm) return false; // wrong password
    if (code === 438) this.#o.onStaleNonce();
    this.#nonce = nonce;
    if (realm !== undefined && realm !== this.#realm) {
      this.#realm = realm;
      this.#key = longTermKey(this.#o.username, realm, this.#o.password);
    }
    return this.#key !== undefined;
  }

  /** One transaction on the engine; its typed failures become TurnClientErrors. */
  async #transact(b: StunMessageBuilder): Promise<StunMessage> {
    if (this.#o.transport.closed) {
      throw new TurnClientError(TURN_ERR.CLOSED, 'TURN transport closed');
    }
    const timeoutMs = this.#o.requestTimeoutMs ?? CLIENT_REQUEST_TIMEOUT_MS;
    try {
      return (await this.#transactions.start(this.#o.server, b.build(), { timeoutMs })).message;
    } catch (err) {
      if (err instanceof TurnClientError) throw err;
      if (err instanceof StunTimeoutError) {
        throw new TurnClientError(
          TURN_ERR.TIMEOUT,
          `no TURN response in ${timeoutMs} ms`,
          undefined,
          {
            cause: err,
          },
        );
      }
      if (err instanceof StunOverloadedError)
        throw new TurnClientError(TURN_ERR.OVERLOADED, err.message, undefined, { cause: err });
      throw new TurnClientError(TURN_ERR.CLOSED, 'TURN transport failed', undefined, {
        cause: err,
      });
    }
  }
}

export function safe<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch {
    return undefined;
  }
}

function methodName(method: number): string {
  const entry = Object.entries(Method).find(([, v]) => v === method);
  return entry ? entry[0] : `0x${method.toString(16)}`;
}
