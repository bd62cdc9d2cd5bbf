/**
 * The punch benchmarks' lab: two hosts `a` and `b`, each behind its own port-restricted NAT
 * (RFC 4787: endpoint-independent mapping, address-and-port-dependent filtering — stock Linux
 * masquerade) whose WAN link delays every packet `delayMs` each way (netsim's NFQUEUE delay line),
 * and `natpush serve` (signaling + STUN on 3478 + TURN on 3479) on the lab's internet server.
 * Peers are long-lived stdio children (test/support/ladder-peer.mjs, or any script) inside the
 * hosts' namespaces, talked to with JSON lines.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Lab } from '../../netsim/index.js';

export const SERVE_PORT = 8787;
const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const PUNCH_LEAD_PRELOAD = fileURLToPath(new URL('./punch-lead-preload.js', import.meta.url));

export interface PunchLab {
  lab: Lab;
  /** serve's URL as the peers reach it. */
  serverUrl: string;
  /** Restart serve (e.g. with another punch lead). */
  restartServe(punchLeadMs?: number): Promise<void>;
  destroy(): Promise<void>;
}

/**
 * `pairs` host pairs: `a`/`b` behind `na`/`nb`, then `a1`/`b1` behind `na1`/`nb1`, … — every host
 * behind its own NAT, every NAT WAN link delayed the same, so runs can go on side by side.
 */
export async function createPunchLab(
  delayMs: number,
  punchLeadMs?: number,
  pairs = 1,
): Promise<PunchLab> {
  const link = delayMs > 0 ? { delayMs } : undefined;
  const names = Array.from({ length: pairs }, (_, i) => (i === 0 ? '' : String(i)));
  const lab = await Lab.create(
    {
      nats: names.flatMap((i) =>
        ['na', 'nb'].map((n) => ({
          name: `${n}${i}`,
          preset: 'port-restricted' as const,
          ...(link ? { link } : {}),
        })),
      ),
      hosts: names.flatMap((i) => [
        { name: `a${i}`, behind: `na${i}` },
        { name: `b${i}`, behind: `nb${i}` },
      ]),
    },
    { tag: 'bench' },
  );
  const dataDir = mkdtempSync(join(os.tmpdir(), 'natpush-bench-'));
  const host = lab.address('server');
  let serve: ChildProcess | undefined;
  const start = async (lead?: number): Promise<void> => {
    const args = [
      ...(lead !== undefined ? ['--import', PUNCH_LEAD_PRELOAD] : []),
      CLI,
      'serve',
      '--host',
      host,
      '--port',
      String(SERVE_PORT),
      '--store',
      'memory',
      '--data-dir',
      dataDir,
      '--log-level',
      'warn',
    ];
    serve = lab.spawn('server', process.execPath, args, {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, NATPUSH_BENCH_PUNCH_LEAD_MS: String(lead ?? '') },
    });
    await waitLine(serve, /turn listening/);
  };
  const stop = async (): Promise<void> => {
    const s = serve;
    serve = undefined;
    if (!s || s.exitCode !== null) return;
    const exited = new Promise((r) => s.once('exit', r));
    s.kill('SIGTERM');
    await exited;
  };
  await start(punchLeadMs);
  return {
    lab,
    serverUrl: `http://${host}:${SERVE_PORT}`,
    restartServe: async (lead) => {
      await stop();
      await start(lead);
    },
    destroy: async () => {
      await stop();
      await lab.destroy();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Resolves when a stdout line of `child` matches `re`; rejects if it exits first. */
export function waitLine(child: ChildProcess, re: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    const rl = readline.createInterface({ input: child.stdout! });
    const onExit = (code: number | null): void => reject(new Error(`exited ${code} before ${re}`));
    child.once('exit', onExit);
    rl.on('line', (l) => {
      if (!re.test(l)) return;
      child.off('exit', onExit);
      rl.close();
      resolve(l);
    });
  });
}

type Msg = Record<string, unknown>;

/** A JSON-lines child: `next(key)` waits for the next line carrying `key` (errors throw). */
export interface LineChild {
  child: ChildProcess;
  send(m: Msg): void;
  next<T = unknown>(key: string, timeoutMs?: number): Promise<T>;
  /** Every line, as it arrives (for forwarding). */
  onLine(cb: (m: Msg) => void): void;
  close(): Promise<void>;
}

export function lineChild(child: ChildProcess, name: string): LineChild {
  const queue: Msg[] = [];
  const waiters: (() => void)[] = [];
  const listeners: ((m: Msg) => void)[] = [];
  let exited = false;
  const exit = new Promise<void>((r) =>
    child.once('exit', () => {
      exited = true;
      for (const w of waiters.splice(0)) w();
      r();
    }),
  );
  readline.createInterface({ input: child.stdout! }).on('line', (l) => {
    if (!l.startsWith('{')) return;
    const m = JSON.parse(l) as Msg;
    for (const f of listeners) f(m);
    queue.push(m);
    for (const w of waiters.splice(0)) w();
  });
  return {
    child,
    send: (m) => child.stdin!.write(JSON.stringify(m) + '\n'),
    onLine: (cb) => listeners.push(cb),
    async next<T>(key: string, timeoutMs = 30_000): Promise<T> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const i = queue.findIndex((m) => key in m || Object.keys(m).some((k) => /Error$/.test(k)));
        if (i >= 0) {
          const m = queue.splice(i, 1)[0]!;
          const err = Object.keys(m).find((k) => /Error$/.test(k));
          if (err && !(key in m)) throw new Error(`${name}: ${err}: ${String(m[err])}`);
          return m[key] as T;
        }
        if (exited) throw new Error(`${name} exited while waiting for ${key}`);
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`${name}: no ${key} within ${timeoutMs} ms`);
        await new Promise<void>((r) => {
          const t = setTimeout(r, left);
          waiters.push(() => {
            clearTimeout(t);
            r();
          });
        });
      }
    },
    async close() {
      if (!exited) {
        child.stdin!.write('{"close":true}\n');
        const t = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exit;
        clearTimeout(t);
      }
    },
  };
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export const fmt = (n: number, d = 0): string =>
  Number.isFinite(n)
    ? n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d })
    : String(n);

export function load(): string {
  return `${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')} on ${os.cpus().length} cores`;
}
