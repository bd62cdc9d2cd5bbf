/**
 * Errors of the server composition (createRelay / createServe / createStun and their options).
 * Stable codes (STYLE.md §7); a bad option is a usage error: the CLI exits 2 on it (`exitCode`).
 */
import { COMMON_ERR, NatpushError } from '../util/errors.js';

export const SERVER_ERR = {
  /** An option is missing, malformed or out of range (flag, environment, --config file). */
  USAGE: COMMON_ERR.USAGE,
  /** `--config FILE` cannot be read or is not a JSON object. */
  CONFIG_FILE: 'NATPUSH_ERR_CONFIG_FILE',
  /**
   * `--workers N` (N > 1) in the default `reuseport` mode where nothing can set SO_REUSEPORT:
   * neither the udp_mmsg addon (`--udp-io mmsg`, any Node) nor dgram `reusePort` (Node >= 22.12).
   * Use `--udp-io mmsg` with the addon built, Node >= 22.12 (Node 24 LTS), or
   * `--workers-mode redirect`.
   */
  WORKERS_UNSUPPORTED: 'NATPUSH_ERR_WORKERS_UNSUPPORTED',
  /** A worker process failed to start (its reason is in the message). */
  WORKER_FAILED: 'NATPUSH_ERR_WORKER_FAILED',
  /** A server did not stop within its deadline after SIGINT/SIGTERM (or got a second signal):
   *  the process exits 1 without waiting further (src/cli/shutdown.ts). */
  SHUTDOWN_TIMEOUT: 'NATPUSH_ERR_SHUTDOWN_TIMEOUT',
} as const;
export type ServerErrorCode = (typeof SERVER_ERR)[keyof typeof SERVER_ERR];

/** An operator's mistake in the options: exit code 2 from the CLI, like yargs' own checks. */
export function optionError(
  message: string,
  code: ServerErrorCode = SERVER_ERR.USAGE,
): NatpushError {
  return Object.assign(new NatpushError(code, message), { exitCode: 2 });
}
