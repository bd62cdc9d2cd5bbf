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
  return {
    child,
    out: () => out,
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

/** `natpush serve` on a free loopback port; resolves with its base URL. */
export async function serve(
  dataDir: string,
  extra: string[] = [],
  port = 0,
): Promise<{ p: NatpushProcess; url: string; port: number }> {
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
  const m = await p.waitFor(/signaling listening on (http:\/\/127\.0\.0\.1:(\d+))/);
  return { p, url: m[1]!, port: Number(m[2]) };
}
