/**
 * The two TURN servers the relay benchmarks compare, as separate processes on loopback (so the
 * load generator's CPU is never counted against either): `natpush relay` (the built CLI) and
 * coturn's `turnserver`, both with one static long-term user and no quotas; plus the /proc
 * readings the benchmarks print (CPU seconds, RSS).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { freePort, startCoturn, waitForStun } from './coturn.js';

export const BENCH_USER = 'ninefingers';
export const BENCH_PASS = 'youhavetoberealistic';

export interface BenchServer {
  /** 'natpush', 'coturn' or 'natpush@baseline'. */
  name: string;
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

/** `natpush relay` from dist/ (run `npm run build` first); `nodeArgs` e.g. ['--cpu-prof']. */
export async function startNatpushRelay(
  nodeArgs: string[] = [],
  main = natpushMain(),
  name = 'natpush',
): Promise<BenchServer> {
  const port = await freePort();
  const child: ChildProcess = spawn(
    process.execPath,
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
    ],
    {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, NATPUSH_TURN_USERS: `${BENCH_USER}:${BENCH_PASS}` },
    },
  );
  await waitForStun(port);
  const exited = new Promise((r) => child.once('exit', r));
  return {
    name,
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

export async function startCoturnRelay(): Promise<BenchServer> {
  const c = await startCoturn({
    users: { [BENCH_USER]: BENCH_PASS },
    extraArgs: ['--user-quota=0', '--total-quota=0'],
    relayPorts: 3000,
  });
  return { name: 'coturn', port: c.port, pid: c.process.pid!, stop: () => c.stop() };
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
