/**
 * Typed operational errors of the punch module (STYLE.md §7). Misuse throws TypeError/RangeError.
 */
import { NatpushError } from '../util/errors.js';

export const PUNCH_ERR = {
  /** No pair succeeded in time (and no relayed pair either). */
  FAILED: 'NATPUSH_ERR_PUNCH_FAILED',
  /** The other side's candidates or the server's punch-start did not arrive in time. */
  SIGNAL_TIMEOUT: 'NATPUSH_ERR_PUNCH_SIGNAL_TIMEOUT',
  /** The signaling connection could not send a rendezvous frame. */
  NOT_CONNECTED: 'NATPUSH_ERR_PUNCH_NOT_CONNECTED',
  ABORTED: 'NATPUSH_ERR_PUNCH_ABORTED',
  CLOSED: 'NATPUSH_ERR_PUNCH_CLOSED',
  /** Too many concurrent sessions on one connector. */
  OVERLOADED: 'NATPUSH_ERR_PUNCH_OVERLOADED',
  /** Too few of the port-allocation samples were answered (allocation-probe.ts). */
  ALLOCATION_UNMEASURED: 'NATPUSH_ERR_PUNCH_ALLOCATION_UNMEASURED',
} as const;
export type PunchErrorCode = (typeof PUNCH_ERR)[keyof typeof PUNCH_ERR];

export class PunchError extends NatpushError {
  declare readonly code: PunchErrorCode;
  constructor(code: PunchErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'PunchError';
  }
}
