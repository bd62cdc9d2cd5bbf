import { NatpushError } from '../util/errors.js';

/**
 * Stable error codes of the end-to-end session module (STYLE.md §7). Anything a remote party can
 * cause (a bad key, a forged or replayed datagram, a wrong identity) is one of these; a caller's
 * misuse throws TypeError/RangeError instead. Never rename a code once released.
 */
export const SessionErrorCode = {
  /** An Ed25519 public key that is not a valid curve point, or converts to a small-order X25519 key. */
  BAD_KEY: 'NATPUSH_ERR_SESSION_BAD_KEY',
  /** A message too short, too long, or with an unknown kind. */
  MALFORMED: 'NATPUSH_ERR_SESSION_MALFORMED',
  /**
   * A ReliableChannel frame that does not parse: inside an authenticated payload, so the sender
   * holds the session keys — a bug, a version skew or a hostile peer. Counted and dropped
   * (`stats.protocolErrors`); reliable-frames.ts throws it, the channel never lets it out.
   */
  BAD_FRAME: 'NATPUSH_ERR_SESSION_BAD_FRAME',
  /** A version byte this implementation does not speak. */
  UNSUPPORTED_VERSION: 'NATPUSH_ERR_SESSION_UNSUPPORTED_VERSION',
  /** AEAD authentication failed: tampered, forged, or encrypted for someone else. */
  DECRYPT_FAILED: 'NATPUSH_ERR_SESSION_DECRYPT_FAILED',
  /** The remote's Noise static key does not belong to the Ed25519 identity it claims. */
  IDENTITY_MISMATCH: 'NATPUSH_ERR_SESSION_IDENTITY_MISMATCH',
  /** A handshake from a peer other than the one this session is for. */
  WRONG_PEER: 'NATPUSH_ERR_SESSION_WRONG_PEER',
  /** A transport counter already seen or older than the replay window. */
  REPLAYED: 'NATPUSH_ERR_SESSION_REPLAYED',
  /** No handshake answer after every retransmission. */
  HANDSHAKE_TIMEOUT: 'NATPUSH_ERR_SESSION_HANDSHAKE_TIMEOUT',
  /** The session or channel was closed while work was pending. */
  CLOSED: 'NATPUSH_ERR_SESSION_CLOSED',
  /** A notification was not acknowledged before its deadline. */
  SEND_TIMEOUT: 'NATPUSH_ERR_SESSION_SEND_TIMEOUT',
  /** The send window is full and the caller asked not to wait. */
  BACKPRESSURE: 'NATPUSH_ERR_SESSION_BACKPRESSURE',
} as const;

export type SessionErrorCode = (typeof SessionErrorCode)[keyof typeof SessionErrorCode];

export class SessionError extends NatpushError {
  declare readonly code: SessionErrorCode;

  constructor(code: SessionErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'SessionError';
  }
}
