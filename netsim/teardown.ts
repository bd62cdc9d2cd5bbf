/**
 * Removing a lab's namespaces — asynchronously for `destroy()`, synchronously from exit and
 * signal handlers — and the process-wide safety net that removes live labs when the process
 * ends without destroying them.
 */
import { run, runSyncQuiet } from './shell.js';

/**
 * One `sh` that SIGKILLs every process still inside the namespaces (spawned children, delay
 * lines, their descendants), then deletes the namespaces in one `ip -batch`. Killing first
 * matters: `ip netns del` only unmounts the name, and a namespace lives on while a process is
 * inside it. Names are validated ([a-z0-9-]) so they need no quoting.
 */
function teardownScript(namespaces: readonly string[]): { args: string[]; input: string } {
  const list = namespaces.join(' ');
  const pids = `for ns in ${list}; do ip netns pids "$ns" 2>/dev/null; done`;
  const script = [
    // SIGKILL is delivered asynchronously and an exiting process can sit in D state for a
    // while (closing its sockets): kill until none is left inside, then wait (each loop at most
    // ~5 s) until every killed pid is a zombie or gone, so destroy() resolving means they died.
    `all=''; i=0`,
    `while p=$(${pids}); [ -n "$p" ] && [ $i -lt 100 ]; do all="$all $p"; echo "$p" | xargs -r kill -9 2>/dev/null; i=$((i+1)); sleep 0.05; done`,
    `i=0; while [ -n "$all" ] && [ $i -lt 100 ]; do live=''; for q in $all; do s=$(sed 's/.*) //' /proc/$q/stat 2>/dev/null | cut -c1); case "$s" in ''|Z|X) ;; *) live=1 ;; esac; done; [ -z "$live" ] && break; i=$((i+1)); sleep 0.05; done`,
    // `-force`: keep going past names that are already gone.
    `printf 'netns del %s\\n' ${list} | ip -force -batch - 2>/dev/null || true`,
  ].join('\n');
  return { args: ['-c', script], input: '' };
}

export async function removeNamespaces(namespaces: readonly string[]): Promise<void> {
  if (namespaces.length === 0) return;
  const { args } = teardownScript(namespaces);
  await run('sh', args);
}

export function removeNamespacesSync(namespaces: readonly string[]): void {
  if (namespaces.length === 0) return;
  const { args, input } = teardownScript(namespaces);
  runSyncQuiet('sh', args, input);
}

/** Names of existing namespaces starting with `prefix-`. */
export async function namespacesWithPrefix(prefix: string): Promise<string[]> {
  const r = await run('ip', ['netns', 'list']);
  return r.stdout
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n.startsWith(`${prefix}-`));
}

/** Live labs of this process that must go when it exits. */
const live = new Map<string, () => void>();
let exitInstalled = false;
let signalsInstalled = false;
const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

function cleanupAll(): void {
  for (const [key, fn] of live) {
    live.delete(key);
    fn();
  }
}

function onSignal(sig: NodeJS.Signals): void {
  cleanupAll();
  for (const s of SIGNALS) process.removeListener(s, onSignal);
  signalsInstalled = false;
  // Only re-raise when nobody else handles the signal: then the default action (exit) happens,
  // as it would have without us.
  if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
}

/** Registers a synchronous cleanup to run if the process exits or is signalled first. */
export function registerExitCleanup(key: string, fn: () => void): void {
  live.set(key, fn);
  if (!exitInstalled) {
    exitInstalled = true;
    process.on('exit', cleanupAll);
  }
  if (!signalsInstalled) {
    signalsInstalled = true;
    for (const s of SIGNALS) process.on(s, onSignal);
  }
}

export function unregisterExitCleanup(key: string): void {
  live.delete(key);
}
