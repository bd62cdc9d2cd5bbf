/**
 * Base of natpush's operational errors (STYLE.md §7): each module's `errors.ts` declares its own
 * codes; every code starts with `NATPUSH_ERR_` and never changes once released.
 */
export class NatpushError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NatpushError';
    this.code = code;
  }
}

export function isNatpushError(e: unknown, code?: string): e is NatpushError {
  return e instanceof NatpushError && (code === undefined || e.code === code);
}
