import { NatpushError } from '../util/errors.js';
import { SignalingErrorCode } from '../signaling/errors.js';

/** One line for a person: `natpush: CODE: message`. */
export function formatError(err: unknown): string {
  if (err instanceof NatpushError) return `natpush: ${err.code}: ${err.message}`;
  if (err instanceof Error) return `natpush: ${err.message}`;
  return `natpush: ${String(err)}`;
}

/**
 * Exit codes of the peer commands, stable for scripts (issue 8, finding 12): a script must tell
 * "delivered" from "the server was not there" from "the server said no" from "it took too long".
 */
export const EXIT = {
  /** Delivered, stored in the mailbox, or (listen/ping) ran to completion. */
  OK: 0,
  /** Anything else (a bug, a local file problem). */
  FAILURE: 1,
  /** Bad arguments. */
  USAGE: 2,
  /** The server could not be reached (and authenticated with) within `--timeout`. */
  UNREACHABLE: 3,
  /** The server answered and refused: admission denied, unknown peer, rate limited, ... */
  REFUSED: 4,
  /** The server was reached but did not accept / answer within `--timeout`. */
  TIMED_OUT: 5,
} as const;

/** The table for `natpush --help`, generated from EXIT so the two cannot drift. */
export const EXIT_CODES_HELP = [
  'Exit codes (send, listen, ping):',
  `  ${EXIT.OK}  delivered or stored in the mailbox (listen/ping: finished)`,
  `  ${EXIT.FAILURE}  other failure`,
  `  ${EXIT.USAGE}  usage error (bad arguments, e.g. --count 0)`,
  `  ${EXIT.UNREACHABLE}  server unreachable within --timeout (NATPUSH_ERR_UNREACHABLE)`,
  `  ${EXIT.REFUSED}  refused or denied by the server (e.g. NATPUSH_ERR_ADMISSION_DENIED, NATPUSH_ERR_UNKNOWN_PEER)`,
  `  ${EXIT.TIMED_OUT}  timed out: reached the server, no answer in time (NATPUSH_ERR_REQUEST_TIMEOUT)`,
].join('\n');

/** Codes the client raises itself; every other SignalingError code came from the server. */
const CLIENT_SIDE = new Set<string>([
  SignalingErrorCode.CONNECTION_CLOSED,
  SignalingErrorCode.ABORTED,
  SignalingErrorCode.IDENTITY,
]);

export function exitCodeFor(err: unknown): number {
  // yargs' validation errors can reach here rather than `.fail()`: a subcommand's `.check()`
  // message arrives as a bare string (yargs 18 with parseAsync), others as a YError.
  if (typeof err === 'string' || (err instanceof Error && err.name === 'YError')) return EXIT.USAGE;
  if (!(err instanceof NatpushError)) return EXIT.FAILURE;
  switch (err.code) {
    case 'NATPUSH_ERR_USAGE':
      return EXIT.USAGE;
    case SignalingErrorCode.UNREACHABLE:
      return EXIT.UNREACHABLE;
    case SignalingErrorCode.REQUEST_TIMEOUT:
    case SignalingErrorCode.DELIVERY_TIMEOUT:
    case 'NATPUSH_ERR_PING_TIMEOUT':
      return EXIT.TIMED_OUT;
  }
  if (Object.values(SignalingErrorCode).includes(err.code as SignalingErrorCode))
    return CLIENT_SIDE.has(err.code) ? EXIT.FAILURE : EXIT.REFUSED;
  return EXIT.FAILURE;
}

/** A usage error raised by a command handler (exit 2). */
export function usageError(message: string): NatpushError {
  return new NatpushError('NATPUSH_ERR_USAGE', message);
}
