/**
 * TURN error codes: the numeric codes on the wire (RFC 8656 §19 and RFC 8489 §14.8), and natpush's
 * typed operational errors for the TURN client (STYLE.md §7).
 */
import { NatpushError } from '../util/errors.js';

/** Wire error codes used by the server, with their RFC reason phrases. */
export const TurnErrorCode = {
  TryAlternate: 300,
  BadRequest: 400,
  Unauthorized: 401,
  Forbidden: 403,
  UnknownAttribute: 420,
  AllocationMismatch: 437,
  StaleNonce: 438,
  AddressFamilyNotSupported: 440,
  WrongCredentials: 441,
  UnsupportedTransportProtocol: 442,
  PeerAddressFamilyMismatch: 443,
  AllocationQuotaReached: 486,
  ServerError: 500,
  InsufficientCapacity: 508,
} as const;
export type TurnErrorCode = (typeof TurnErrorCode)[keyof typeof TurnErrorCode];

export const TURN_REASON: Record<TurnErrorCode, string> = {
  300: 'Try Alternate',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  420: 'Unknown Attribute',
  437: 'Allocation Mismatch',
  438: 'Stale Nonce',
  440: 'Address Family not Supported',
  441: 'Wrong Credentials',
  442: 'Unsupported Transport Protocol',
  443: 'Peer Address Family Mismatch',
  486: 'Allocation Quota Reached',
  500: 'Server Error',
  508: 'Insufficient Capacity',
};

export const TURN_ERR = {
  /** The server answered a request with an error response; `status` holds its code. */
  REJECTED: 'NATPUSH_ERR_TURN_REJECTED',
  /** No response after the retransmissions / timeout. */
  TIMEOUT: 'NATPUSH_ERR_TURN_TIMEOUT',
  /** The client was closed (or its transport died) while a request was pending. */
  CLOSED: 'NATPUSH_ERR_TURN_CLOSED',
  /** The server's response was not what RFC 8656 allows (missing attribute, bad integrity). */
  PROTOCOL: 'NATPUSH_ERR_TURN_PROTOCOL',
  /** Too many requests outstanding on one client (TURN_CLIENT_MAX_PENDING). */
  OVERLOADED: 'NATPUSH_ERR_TURN_OVERLOADED',
  /**
   * A TURN-over-TCP/TLS byte stream that cannot be split into STUN and ChannelData frames
   * (stream-framer.ts StreamFramingError, RFC 8656 §12.5): the connection is closed.
   */
  FRAMING: 'NATPUSH_ERR_TURN_FRAMING',
} as const;

export class TurnClientError extends NatpushError {
  constructor(
    code: (typeof TURN_ERR)[keyof typeof TURN_ERR],
    message: string,
    status?: number,
    options?: { cause?: unknown; alternate?: { address: string; port: number } },
  ) {
    super(code, message, {
      ...(options && 'cause' in options && { cause: options.cause }),
      status,
    });
    this.name = 'TurnClientError';
    this.alternate = options?.alternate;
  }

  /** ALTERNATE-SERVER of a 300 Try Alternate (RFC 8489 §10). */
  readonly alternate: { address: string; port: number } | undefined;
}

export function isTurnClientError(e: unknown): e is TurnClientError {
  return e instanceof TurnClientError;
}

/** Configuration refused at start-up (the CLI prints the code and exits 1). */
export const RELAY_CONFIG_ERR = {
  /**
   * `natpush serve` would run an open relay: its relay listens on a non-loopback address, anyone
   * may register (no --peer-token) and the peer gate is off (--no-relay-peer-gate), without
   * --open-relay-i-know (issue 8, finding 3).
   */
  OPEN_RELAY: 'NATPUSH_ERR_OPEN_RELAY',
} as const;
