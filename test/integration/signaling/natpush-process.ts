/** Run the built `natpush` CLI as a child process (needs `npm run build`; `npm test` does it). */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { guardChild } from '../../../bench/lib/child-guard.js';

export const CLI = fileURLToPath(new URL('../../../dist/src/cli/main.js', import.meta.url));
export const REPO = fileURLToPath(new URL('../../../', import.meta.url));

export function assertBuilt(): void {
  if (!existsSync(CLI))
    throw new Error(`${CLI} missing: run \`npm run build\` first (npm test does)`);
}

export interface NatpushProcess {
  child: ChildProcess;
  out: () => string;
  /** Its stderr so far. */
  err: () => string;
  /** Resolves once its stdout and stderr are closed (it has exited; all its output is in). */
  closed: Promise<void>;
  /** Resolves with the first stdout match of `re`. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(sig?: NodeJS.Signals): Promise<void>;
}

export function runNatpush(
  args: string[],
  o: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): NatpushProcess {
  assertBuilt();
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: o.cwd ?? REPO,
    env: { ...process.env, ...o.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  guardChild(child); // SIGKILLed if the test worker exits or is stopped first
  let out = '';
  let err = '';
  const listeners: (() => void)[] = [];
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    for (const l of [...listeners]) l();
  });
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.once('exit', (code, signal) => r({ code, signal })),
  );
  const closed = new Promise<void>((r) => child.once('close', () => r()));
  return {
    child,
    out: () => out,
    err: () => err,
    closed,
    exited,
    waitFor(re, timeoutMs = 45_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = re.exec(out);
          if (!m) return;
          listeners.splice(listeners.indexOf(check), 1);
          clearTimeout(timer);
          resolve(m);
        };
        const timer = setTimeout(() => {
          listeners.splice(listeners.indexOf(check), 1);
          reject(new Error(`timeout waiting for ${re} in stdout:\n${out}\nstderr:\n${err}`));
        }, timeoutMs);
        listeners.push(check);
        check();
      });
    },
    async kill(sig = 'SIGKILL') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(sig);
      await exited;
    },
  };
}

/** How long a restart on a given port waits for that port to be free again. */
const SAME_PORT_MS = 30_000;

/**
 * `natpush serve` on a free loopback port (or on `port`); resolves with its base URL. With a
 * given `port` (a restart that clients must find at the same URL) a start that fails because
 * the port is still taken (a killed predecessor not yet gone, or another test's socket that got
 * it meanwhile) is tried again until the port is free, for up to 30 s, and the failure says so.
 */
export async function serve(
  dataDir: string,
  extra: string[] = [],
  port = 0,
): Promise<{ p: NatpushProcess; url: string; port: number }> {
  const deadline = Date.now() + SAME_PORT_MS;
  for (let attempt = 1; ; attempt++) {
    const p = runNatpush([
      'serve',
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--data-dir',
      dataDir,
      // Free ports for STUN and the TURN relay too, so serves in parallel test files never collide.
      '--stun-port',
      '0',
      '--relay-port',
      '0',
      ...extra,
    ]);
    const listening = p.waitFor(/signaling listening on (http:\/\/127\.0\.0\.1:(\d+))/);
    listening.catch(() => {}); // when it exits first, the race below reports that instead
    try {
      const m = await Promise.race([
        listening,
        p.closed.then(() => {
          throw new Error(
            `natpush serve exited (code ${p.child.exitCode}, signal ${p.child.signalCode}) before listening; stdout:\n${p.out()}\nstderr:\n${p.err()}`,
          );
        }),
      ]);
      return { p, url: m[1]!, port: Number(m[2]) };
    } catch (err) {
      await p.kill();
      const taken = port !== 0 && /EADDRINUSE/.test(p.err() + p.out());
      if (!taken) throw err;
      if (Date.now() > deadline) {
        throw new Error(
          `natpush serve could not listen on port ${port} again: still in use after ${SAME_PORT_MS / 1_000} s and ${attempt} starts (the test restarts on the same port, its clients reconnect to the same URL); last start: ${(err as Error).message}`,
        );
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}
