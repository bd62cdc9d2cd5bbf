/**
 * The STUN transaction engine's (transaction.ts) options, results and counters.
 */
import type { Endpoint } from '../net/udp.js';
import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import type { StunMessage } from './message.js';
import type { RetransmissionOptions } from './retransmission.js';

/** How the engine puts a request on the wire. Throwing fails the transaction (StunTransportError). */
export type StunSend = (bytes: Uint8Array, to: Endpoint) => void;

export interface StunTransactionsOptions {
  send: StunSend;
  clock?: Clock;
  logger?: Logger;
  /** 'datagram' (UDP, default): retransmit per RFC 8489 §6.2.1. 'reliable' (TCP/TLS): send once,
   *  time out after `reliableTimeoutMs` (RFC 8489 §6.2.2). */
  transport?: 'datagram' | 'reliable';
  /** Default schedule for datagram transactions; RFC8489_RETRANSMISSION unless given
   *  (LAN_RETRANSMISSION for fast networks). */
  retransmission?: Partial<RetransmissionOptions>;
  /** Ti for reliable transports; default 39.5 s (RFC 8489 §6.2.2). */
  reliableTimeoutMs?: number;
  /** Outstanding transactions allowed; default 1024 (see "Bounds" above). */
  maxPending?: number;
}

export interface TransactionOptions {
  signal?: AbortSignal;
  /** Override the engine's datagram schedule for this transaction. */
  retransmission?: Partial<RetransmissionOptions>;
  /** End the transaction after this long even if the schedule has time left. */
  timeoutMs?: number;
  /** Accept the response from any source (RFC 5780 CHANGE-REQUEST tests); default false. */
  anySource?: boolean;
  /** Complete when our own request arrives back, from any source (RFC 5780 §4.5 hairpin test). */
  acceptEcho?: boolean;
}

export interface StunResponse {
  /** The response (or, with `acceptEcho`, our own request as it came back). */
  message: StunMessage;
  /** Where it came from. */
  from: Endpoint;
  /** Time from the first request to the response, ms (RFC 8489 §6.2.1 would use the last
   *  request for RTO estimation; the first is what a person waits). */
  rttMs: number;
  /** Requests sent, 1 + retransmissions. */
  attempts: number;
}

export interface StunTransactionStats {
  /** Requests put on the wire, retransmissions included. */
  sent: number;
  retransmitted: number;
  completed: number;
  timedOut: number;
  aborted: number;
  /** `send` threw (closed socket, dead stream). */
  sendFailed: number;
  /** `start` refused because `maxPending` transactions were outstanding. */
  overloaded: number;
  /** A STUN response whose transaction id is not outstanding here (late, forged, or another
   *  engine's on a shared socket). */
  ignoredUnknownTransaction: number;
  /** Right transaction id, wrong source endpoint. */
  ignoredWrongSource: number;
  /** Right transaction id, but it does not decode or fails FINGERPRINT. */
  ignoredMalformed: number;
}
