/**
 * A failed write of the mailbox store, as a typed error with a stable code (issue 8, finding 5):
 * the operator and the client learn whether the disk is full, the store is read-only, or
 * something else broke — instead of a 500 "internal error" and a stack trace.
 *
 * SQLite reports a write that hits ENOSPC as SQLITE_FULL ("database or disk is full",
 * https://www.sqlite.org/rescode.html#full), a read-only file or file system as SQLITE_READONLY
 * (and its extended codes), or, when the file cannot even be opened for writing, as
 * SQLITE_CANTOPEN; node:fs calls (creating the file, fdatasync) fail with errno codes.
 */
import { SignalingError, SignalingErrorCode } from '../errors.js';

function errCode(err: unknown): string {
  const c = (err as { code?: unknown } | undefined)?.code;
  return typeof c === 'string' ? c : '';
}

export function storeFailureCode(err: unknown): SignalingErrorCode {
  const c = errCode(err);
  if (c === 'SQLITE_FULL' || c === 'ENOSPC' || c === 'EDQUOT')
    return SignalingErrorCode.STORE_DISK_FULL;
  if (c.startsWith('SQLITE_READONLY') || c === 'EROFS' || c === 'EACCES' || c === 'EPERM')
    return SignalingErrorCode.STORE_READ_ONLY;
  return SignalingErrorCode.STORE_FAILED;
}

const WHAT: Partial<Record<SignalingErrorCode, string>> = {
  [SignalingErrorCode.STORE_DISK_FULL]: 'the disk of the mailbox store is full',
  [SignalingErrorCode.STORE_READ_ONLY]: 'the mailbox store is read-only',
};

/** `err` (from SQLite or node:fs) as a SignalingError; `doing` says what failed. */
export function storeFailure(err: unknown, doing: string, where?: string): SignalingError {
  if (err instanceof SignalingError) return err;
  const code = storeFailureCode(err);
  const what = WHAT[code] ?? 'the mailbox store failed';
  const detail = err instanceof Error ? err.message : String(err);
  return new SignalingError(code, `${doing}: ${what}${where ? ` (${where})` : ''}: ${detail}`, {
    cause: err,
  });
}
