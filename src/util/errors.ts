/**
 * The one error shape of natpush (STYLE.md §7, issue 10 item 5): every operational error is a
 * `NatpushError` with
 * - `code`: stable, always `NATPUSH_ERR_*`, declared in one table per module (`src/<module>/
 *   errors.ts`: STUN_ERR, TURN_ERR, SignalingErrorCode, NETSIM_ERR, ...) and never renamed once
 *   released (test/unit/util/error-codes.test.ts walks every table);
 * - `status`: the wire status when there is one — the STUN/TURN error code of an error response
 *   (RFC 8489 §14.8), the HTTP status a signaling code is answered with;
 * - `cause`: the underlying error (ES2022 `Error.cause`).
 * Programmer misuse is not one of these: it throws TypeError/RangeError at once.
 */
export class NatpushError extends Error {
  readonly code: string;
  /** Wire status (STUN/TURN error code, HTTP status), when the error has one. */
  readonly status: number | undefined;

  constructor(
    code: string,
    message: string,
    options?: { cause?: unknown; status?: number | undefined },
  ) {
    super(message, options && 'cause' in options ? { cause: options.cause } : undefined);
    this.name = 'NatpushError';
    this.code = code;
    this.status = options?.status;
  }
}

/** Codes every module may raise. */
export const COMMON_ERR = {
  /**
   * An argument or option is missing, malformed or out of range (a flag, the environment, a
   * --config file, a library option parsed at the edge): the CLI exits 2 on it.
   */
  USAGE: 'NATPUSH_ERR_USAGE',
} as const;

export function isNatpushError(e: unknown, code?: string): e is NatpushError {
  return e instanceof NatpushError && (code === undefined || e.code === code);
}
