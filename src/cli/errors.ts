import { COMMON_ERR, NatpushError } from '../util/errors.js';
import { SignalingErrorCode } from '../signaling/errors.js';

/** Codes the CLI raises itself (STYLE.md §7); the rest come from the modules it runs. */
export const CLI_ERR = {
  /** Bad arguments (exit 2): the one usage code of every module (util/errors.ts COMMON_ERR). */
  USAGE: COMMON_ERR.USAGE,
  /** `natpush ping`: no pong from the peer before the count or the timeout ran out (exit 5). */
  PING_TIMEOUT: 'NATPUSH_ERR_PING_TIMEOUT',
} as const;

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

/**
 * The exit code of a peer command (`send`, `listen`, `ping`): there a SignalingError that the
 * client did not raise itself came from the server, so it is a refusal (4). Other commands keep
 * 1 for their own failures (`serve` failing on a read-only store is no refusal).
 */
export function peerCommandExitCode(err: unknown): number {
  const generic = exitCodeFor(err);
  if (generic !== EXIT.FAILURE || !(err instanceof NatpushError)) return generic;
  if (Object.values(SignalingErrorCode).includes(err.code as SignalingErrorCode))
    return CLIENT_SIDE.has(err.code) ? EXIT.FAILURE : EXIT.REFUSED;
  return EXIT.FAILURE;
}

/** Run a peer command's body; its errors leave with `peerCommandExitCode` (main.ts reads it). */
export async function asPeerCommand(body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (err) {
    if (err instanceof Error) Object.assign(err, { exitCode: peerCommandExitCode(err) });
    throw err;
  }
}

export function exitCodeFor(err: unknown): number {
  const explicit = (err as { exitCode?: unknown } | undefined)?.exitCode;
  if (typeof explicit === 'number') return explicit;
  // yargs' validation errors can reach here rather than `.fail()`: a subcommand's `.check()`
  // message arrives as a bare string (yargs 18 with parseAsync), others as a YError.
  if (typeof err === 'string' || (err instanceof Error && err.name === 'YError')) return EXIT.USAGE;
  if (!(err instanceof NatpushError)) return EXIT.FAILURE;
  switch (err.code) {
    case CLI_ERR.USAGE:
      return EXIT.USAGE;
    case SignalingErrorCode.UNREACHABLE:
      return EXIT.UNREACHABLE;
    case SignalingErrorCode.REQUEST_TIMEOUT:
    case SignalingErrorCode.DELIVERY_TIMEOUT:
    case CLI_ERR.PING_TIMEOUT:
      return EXIT.TIMED_OUT;
  }
  return EXIT.FAILURE;
}

/** A usage error raised by a command handler (exit 2). */
export function usageError(message: string): NatpushError {
  return new NatpushError(CLI_ERR.USAGE, message);
}
