import { NatpushError } from '../util/errors.js';

/** One line for a person: `natpush: CODE: message`. */
export function formatError(err: unknown): string {
  if (err instanceof NatpushError) return `natpush: ${err.code}: ${err.message}`;
  if (err instanceof Error) return `natpush: ${err.message}`;
  return `natpush: ${String(err)}`;
}

/** 2 for usage errors, 1 for everything else. */
export function exitCodeFor(err: unknown): number {
  if (err instanceof NatpushError && err.code === 'NATPUSH_ERR_USAGE') return 2;
  return 1;
}
