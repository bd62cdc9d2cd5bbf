/**
 * Operational errors of the STUN module (STYLE.md §7). Codes are stable once released.
 */
import { NatpushError } from '../util/errors.js';

export const STUN_ERR = {
  /** Bytes that are not a well-formed STUN message or attribute (RFC 8489 §5, §14). */
  MALFORMED: 'NATPUSH_ERR_STUN_MALFORMED',
  /** No response after the last retransmission (RFC 8489 §6.2.1 timeout Ti). */
  TIMEOUT: 'NATPUSH_ERR_STUN_TIMEOUT',
  /** The caller's AbortSignal fired. */
  ABORTED: 'NATPUSH_ERR_STUN_ABORTED',
  /** The server answered with an error response (RFC 8489 §6.3.4). */
  ERROR_RESPONSE: 'NATPUSH_ERR_STUN_ERROR_RESPONSE',
  /** The transport closed or failed while a transaction was outstanding. */
  TRANSPORT: 'NATPUSH_ERR_STUN_TRANSPORT',
  /** Too many outstanding transactions on one client. */
  OVERLOADED: 'NATPUSH_ERR_STUN_OVERLOADED',
} as const;

export class StunDecodeError extends NatpushError {
  constructor(message: string) {
    super(STUN_ERR.MALFORMED, message);
    this.name = 'StunDecodeError';
  }
}

export class StunTimeoutError extends NatpushError {
  constructor(
    message: string,
    readonly attempts: number,
  ) {
    super(STUN_ERR.TIMEOUT, message);
    this.name = 'StunTimeoutError';
  }
}

export class StunAbortedError extends NatpushError {
  constructor(message = 'STUN transaction aborted', options?: { cause?: unknown }) {
    super(STUN_ERR.ABORTED, message, options);
    this.name = 'StunAbortedError';
  }
}

export class StunErrorResponse extends NatpushError {
  constructor(
    readonly errorCode: number,
    readonly reason: string,
  ) {
    super(STUN_ERR.ERROR_RESPONSE, `STUN error response ${errorCode} ${reason}`, {
      status: errorCode,
    });
    this.name = 'StunErrorResponse';
  }
}

export class StunTransportError extends NatpushError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(STUN_ERR.TRANSPORT, message, options);
    this.name = 'StunTransportError';
  }
}

export class StunOverloadedError extends NatpushError {
  constructor(message: string) {
    super(STUN_ERR.OVERLOADED, message);
    this.name = 'StunOverloadedError';
  }
}
