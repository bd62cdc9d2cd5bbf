/**
 * The graceful stop of the long-running commands (`serve`, `relay`, `stun`): the first SIGINT or
 * SIGTERM closes the server within a deadline; the deadline or a second signal exits at once with
 * code 1 and NATPUSH_ERR_SHUTDOWN_TIMEOUT on stderr. After a clean close the process exits
 * explicitly: a handle left open somewhere (a timer, a worker's IPC channel, a socket) must not
 * keep a stopped server alive while its supervisor (systemd, a test, a container runtime) waits.
 */
import { SERVER_ERR } from '../server/errors.js';

/** Long enough for a worker pool's SIGTERM-then-SIGKILL (5 s) and a store's last checkpoint. */
export const SHUTDOWN_DEADLINE_MS = 15_000;

/** Resolves with the first SIGINT or SIGTERM. */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (sig: NodeJS.Signals): void => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(sig);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}

/**
 * Run `close` (the signal already came), then exit 0; exit 1 if it throws, takes longer than
 * `deadlineMs`, or another signal comes first.
 */
export async function stopAndExit(
  command: string,
  close: () => Promise<void>,
  o: { deadlineMs?: number; exit?: (code: number) => void; stderr?: (line: string) => void } = {},
): Promise<void> {
  const exit = o.exit ?? ((code: number) => process.exit(code));
  const stderr = o.stderr ?? ((line: string) => void process.stderr.write(line + '\n'));
  const deadlineMs = o.deadlineMs ?? SHUTDOWN_DEADLINE_MS;
  let done = false;
  const force = (why: string): void => {
    if (done) return;
    done = true;
    stderr(`natpush: ${SERVER_ERR.SHUTDOWN_TIMEOUT}: ${command} ${why}; exiting now`);
    exit(1);
  };
  const timer = setTimeout(() => force(`did not stop within ${deadlineMs / 1000} s`), deadlineMs);
  timer.unref();
  const again = (sig: NodeJS.Signals): void => force(`got ${sig} again while stopping`);
  process.once('SIGINT', again);
  process.once('SIGTERM', again);
  let code = 0;
  try {
    await close();
  } catch (err) {
    stderr(`natpush: ${command} failed to stop cleanly: ${String(err)}`);
    code = 1;
  }
  clearTimeout(timer);
  process.off('SIGINT', again);
  process.off('SIGTERM', again);
  if (done) return;
  done = true;
  exit(code);
}
