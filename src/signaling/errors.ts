import { NatpushError } from '../util/errors.js';

/**
 * Stable error codes of the signaling module (STYLE.md §7). They travel in `error` frames and
 * HTTP error bodies; clients switch on them. Never renumber or rename a code once released.
 */
export const SignalingErrorCode = {
  BAD_FRAME: 'NATPUSH_ERR_BAD_FRAME',
  FRAME_TOO_LARGE: 'NATPUSH_ERR_FRAME_TOO_LARGE',
  UNSUPPORTED_VERSION: 'NATPUSH_ERR_UNSUPPORTED_VERSION',
  NOT_AUTHENTICATED: 'NATPUSH_ERR_NOT_AUTHENTICATED',
  BAD_SIGNATURE: 'NATPUSH_ERR_BAD_SIGNATURE',
  CHALLENGE_EXPIRED: 'NATPUSH_ERR_CHALLENGE_EXPIRED',
  CHALLENGE_REPLAYED: 'NATPUSH_ERR_CHALLENGE_REPLAYED',
  PEER_ID_MISMATCH: 'NATPUSH_ERR_PEER_ID_MISMATCH',
  ADMISSION_DENIED: 'NATPUSH_ERR_ADMISSION_DENIED',
  API_KEY_REQUIRED: 'NATPUSH_ERR_API_KEY_REQUIRED',
  UNKNOWN_PEER: 'NATPUSH_ERR_UNKNOWN_PEER',
  PEER_OFFLINE: 'NATPUSH_ERR_PEER_OFFLINE',
  BODY_TOO_LARGE: 'NATPUSH_ERR_BODY_TOO_LARGE',
  RATE_LIMITED: 'NATPUSH_ERR_RATE_LIMITED',
  TOO_MANY_CONNECTIONS: 'NATPUSH_ERR_TOO_MANY_CONNECTIONS',
  MAILBOX_FULL: 'NATPUSH_ERR_MAILBOX_FULL',
  DUPLICATE_ID: 'NATPUSH_ERR_DUPLICATE_ID',
  HANDSHAKE_TIMEOUT: 'NATPUSH_ERR_HANDSHAKE_TIMEOUT',
  REPLACED: 'NATPUSH_ERR_REPLACED',
  SHUTTING_DOWN: 'NATPUSH_ERR_SHUTTING_DOWN',
  NOT_FOUND: 'NATPUSH_ERR_NOT_FOUND',
  /**
   * The peer kept asking for replies (pong, accepted, turn-credentials, …) without reading
   * them: its send buffer stayed over LIMITS.maxBufferedBytes for `maxUnreadReplies` replies.
   */
  SLOW_CONSUMER: 'NATPUSH_ERR_SLOW_CONSUMER',
  /** `turn-credentials` asked of a server that runs no TURN relay (`serve --no-relay`). */
  RELAY_UNAVAILABLE: 'NATPUSH_ERR_RELAY_UNAVAILABLE',
  INTERNAL: 'NATPUSH_ERR_INTERNAL',
  /** A request the HTTP API cannot read: a bad percent-escape in the path, a bad target form. */
  BAD_REQUEST: 'NATPUSH_ERR_BAD_REQUEST',
  /** The session token behind an SSE stream or a long poll expired: authenticate again. */
  SESSION_EXPIRED: 'NATPUSH_ERR_SESSION_EXPIRED',
  /** This sender holds its share of the recipient's mailbox (constants.ts STORE_QUOTAS). */
  SENDER_QUOTA: 'NATPUSH_ERR_SENDER_QUOTA',
  /** The server's mailbox store reached its global count or byte quota. */
  STORE_QUOTA: 'NATPUSH_ERR_STORE_QUOTA',
  /** The disk under the mailbox store is full (SQLITE_FULL, ENOSPC): nothing of the batch stored. */
  STORE_DISK_FULL: 'NATPUSH_ERR_STORE_DISK_FULL',
  /** The mailbox store cannot be written (read-only file system or file, permissions). */
  STORE_READ_ONLY: 'NATPUSH_ERR_STORE_READ_ONLY',
  /** Any other failure to write or sync the mailbox store (I/O error, corruption). */
  STORE_FAILED: 'NATPUSH_ERR_STORE_FAILED',
  /**
   * A new peer tried to register at the server's cap of registered peers (`serve --max-peers`,
   * store/peer-limits.ts); known peers still log in. Retry after idle registrations expire.
   */
  PEER_LIMIT: 'NATPUSH_ERR_PEER_LIMIT',
  // client side
  CONNECTION_CLOSED: 'NATPUSH_ERR_CONNECTION_CLOSED',
  DELIVERY_TIMEOUT: 'NATPUSH_ERR_DELIVERY_TIMEOUT',
  ABORTED: 'NATPUSH_ERR_ABORTED',
  REQUEST_TIMEOUT: 'NATPUSH_ERR_REQUEST_TIMEOUT',
  IDENTITY: 'NATPUSH_ERR_IDENTITY',
  /** The client could not reach (connect to and authenticate with) the server in time. */
  UNREACHABLE: 'NATPUSH_ERR_UNREACHABLE',
} as const;

export type SignalingErrorCode = (typeof SignalingErrorCode)[keyof typeof SignalingErrorCode];

/** HTTP status for each code the HTTP API can answer with. */
export const HTTP_STATUS: Partial<Record<SignalingErrorCode, number>> = {
  NATPUSH_ERR_BAD_FRAME: 400,
  NATPUSH_ERR_FRAME_TOO_LARGE: 413,
  NATPUSH_ERR_BODY_TOO_LARGE: 413,
  NATPUSH_ERR_UNSUPPORTED_VERSION: 400,
  NATPUSH_ERR_NOT_AUTHENTICATED: 401,
  NATPUSH_ERR_BAD_SIGNATURE: 401,
  NATPUSH_ERR_CHALLENGE_EXPIRED: 401,
  NATPUSH_ERR_CHALLENGE_REPLAYED: 401,
  NATPUSH_ERR_PEER_ID_MISMATCH: 401,
  NATPUSH_ERR_ADMISSION_DENIED: 403,
  NATPUSH_ERR_API_KEY_REQUIRED: 401,
  NATPUSH_ERR_UNKNOWN_PEER: 404,
  NATPUSH_ERR_NOT_FOUND: 404,
  NATPUSH_ERR_RATE_LIMITED: 429,
  NATPUSH_ERR_TOO_MANY_CONNECTIONS: 429,
  NATPUSH_ERR_MAILBOX_FULL: 507,
  NATPUSH_ERR_DUPLICATE_ID: 409,
  NATPUSH_ERR_SHUTTING_DOWN: 503,
  NATPUSH_ERR_RELAY_UNAVAILABLE: 503,
  NATPUSH_ERR_INTERNAL: 500,
  NATPUSH_ERR_BAD_REQUEST: 400,
  NATPUSH_ERR_SESSION_EXPIRED: 401,
  NATPUSH_ERR_SENDER_QUOTA: 507,
  NATPUSH_ERR_STORE_QUOTA: 507,
  NATPUSH_ERR_STORE_DISK_FULL: 507,
  NATPUSH_ERR_STORE_READ_ONLY: 503,
  NATPUSH_ERR_STORE_FAILED: 503,
  NATPUSH_ERR_PEER_LIMIT: 507,
};

export class SignalingError extends NatpushError {
  declare readonly code: SignalingErrorCode;

  /** `status`: the HTTP status the code is answered with (HTTP_STATUS), if it has one. */
  constructor(code: SignalingErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, { ...options, status: HTTP_STATUS[code] });
    this.name = 'SignalingError';
  }
}
