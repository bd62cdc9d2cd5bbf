/**
 * Children that must not outlive this process (redis-server, turnserver, `natpush` processes of
 * a test or bench): each one guarded is SIGKILLed synchronously when this process exits, and
 * when it is told to stop by SIGTERM/SIGINT/SIGHUP — vitest stops a test worker with SIGTERM
 * (SIGKILL 10 s later), and Node's default SIGTERM action exits without an `exit` event, so a
 * worker whose afterAll timed out would otherwise leave its servers running. After killing them
 * the signal is raised again with this module's handler removed, so the process dies of it as it
 * would have.
 *
 * `stopChild` is the bounded stop every teardown uses: SIGKILL (or the signal given, then SIGKILL
 * after `graceMs`), then wait for `exit` at most `waitMs` — it never hangs a hook.
 */
import type { ChildProcess } from 'node:child_process';

/** Children alive and guarded. Bounded by what the tests start (a few dozen at most). */
const guarded = new Set<ChildProcess>();
const SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;
let installed = false;

function killAll(): void {
  for (const c of guarded) {
    try {
      c.kill('SIGKILL');
    } catch {
      // Already gone: nothing to do.
    }
  }
  guarded.clear();
}

function onSignal(sig: NodeJS.Signals): void {
  killAll();
  for (const s of SIGNALS) process.off(s, onSignal);
  // Only this handler listened: the default action (exit by the signal) is what was wanted.
  if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', killAll);
  for (const s of SIGNALS) process.on(s, onSignal);
}

const exitedNow = (c: ChildProcess): boolean => c.exitCode !== null || c.signalCode !== null;

/** SIGKILL `child` if this process exits or is signalled first. */
export function guardChild(child: ChildProcess): void {
  if (exitedNow(child)) return;
  install();
  guarded.add(child);
  child.once('exit', () => guarded.delete(child));
}

/**
 * Stop `child` and wait for its exit, bounded: `signal` (default SIGKILL), SIGKILL after
 * `graceMs` if it is still there, and give up waiting after `waitMs` (a process stuck in the
 * kernel; it is logged, not waited for — a hook must end).
 */
export async function stopChild(
  child: ChildProcess,
  o: { signal?: NodeJS.Signals; graceMs?: number; waitMs?: number } = {},
): Promise<void> {
  if (exitedNow(child)) return;
  const exited = new Promise<boolean>((r) => child.once('exit', () => r(true)));
  const sig = o.signal ?? 'SIGKILL';
  child.kill(sig);
  const grace =
    sig === 'SIGKILL' ? undefined : setTimeout(() => child.kill('SIGKILL'), o.graceMs ?? 3_000);
  let timer: NodeJS.Timeout | undefined;
  const gaveUp = new Promise<boolean>((r) => {
    timer = setTimeout(() => r(false), o.waitMs ?? 10_000);
  });
  const ok = await Promise.race([exited, gaveUp]);
  clearTimeout(grace);
  clearTimeout(timer);
  if (!ok) console.warn(`child ${child.pid} did not exit within ${o.waitMs ?? 10_000} ms`);
}
