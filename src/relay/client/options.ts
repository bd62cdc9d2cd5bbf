/**
 * The TURN client's options, data listener and counters (STYLE.md §5: every limit with its
 * default and reason).
 */
import type { Endpoint, UdpNetwork, UdpSocket } from '../../net/index.js';
import type { StunTransactionStats } from '../../stun/index.js';
import type { Clock } from '../../util/clock.js';
import type { Logger } from '../../util/logger.js';

/**
 * Outstanding requests per TURN client. One allocation needs a handful at a time (Allocate or
 * Refresh, a CreatePermission, a ChannelBind per peer being set up); 256 lets a peer open paths to
 * many peers at once while a runaway caller gets NATPUSH_ERR_TURN_OVERLOADED instead of growing
 * memory and flooding the server (our relay holds 64 channels per allocation anyway).
 */
export const TURN_CLIENT_MAX_PENDING = 256;

/** How long close() waits for the deallocating Refresh's answer (then the lifetime ends it). */
export const CLOSE_DEALLOCATE_WAIT_MS = 2_000;

/**
 * A TCP connect to the server with no `requestTimeoutMs` given: as long as a request may take
 * (10 s). Without a bound, a black-holed SYN waits out the kernel's retries (~2 min on Linux).
 */
export const DEFAULT_TCP_CONNECT_TIMEOUT_MS = 10_000;

export interface TurnClientOptions {
  /** The TURN server's transport address. */
  server: Endpoint;
  username: string;
  password: string;
  /** 'udp' (default) or 'tcp' (RFC 8656 §3.1, for UDP-blocked networks). */
  transport?: 'udp' | 'tcp';
  /** UDP only: the peer's shared socket; the client never closes it. */
  socket?: UdpSocket;
  /** UDP only: where to bind a socket of our own when `socket` is absent. */
  net?: UdpNetwork;
  /**
   * UDP only: the same server's TCP endpoint (a `turn:…?transport=tcp` URL). When the Allocate
   * over UDP gets no answer at all — a network that blocks UDP — the allocation is made over TCP
   * there instead (RFC 8656 §3.1; the relayed address is UDP either way), so a UDP-blocked peer
   * still gets a relayed candidate. An error response over UDP is final: the server was reached.
   */
  tcpFallback?: Endpoint;
  clock?: Clock;
  logger?: Logger;
  /** Requested allocation lifetime; default: the server's (600 s). */
  lifetimeSeconds?: number;
  /** Per-request timeout; default 10 s (RFC 8489's 39.5 s is longer than a user waits). */
  requestTimeoutMs?: number;
  /** Outstanding requests allowed; default TURN_CLIENT_MAX_PENDING. */
  maxPending?: number;
}

export type DataListener = (data: Uint8Array, from: Endpoint) => void;

export interface TurnClientCounters {
  refreshFailures: number;
  staleNonceRetries: number;
  received: number;
  ignored: number;
}

export interface TurnClientStats extends TurnClientCounters {
  /** Requests sent (first transmissions). */
  requests: number;
  retransmits: number;
  /** The transaction engine's counters (timeouts, overloads, ignored responses by reason). */
  transactions: StunTransactionStats;
}
