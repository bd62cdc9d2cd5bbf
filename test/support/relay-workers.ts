/**
 * `natpush relay --workers N` from the built CLI on `--port 0`, for the integration and interop
 * tiers. The port is the one the relay reports (its `turn relay listening` line): never "a free
 * port then the next N". `stop()` ends it and its workers; `workerPids()` lists the live worker
 * processes (children of the primary) and `pidOfUdpPort()` says which process holds a relayed
 * port (ss), so tests can tell which worker serves a client.
 */
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import readline from 'node:readline';
import { requireBuiltCli } from './natpush-cli.js';

export interface RelayWorkers {
  port: number;
  pid: number;
  stop(): Promise<void>;
  /** Every stderr line so far (JSON logs). */
  lines: string[];
}

export interface RelayWorkersOptions {
  /** The Node binary to run the CLI with; default this process's. */
  node?: string;
  workers?: number;
  /** Default 'redirect' (what the interop tier's director test exercises on Node 20). */
  mode?: 'reuseport' | 'redirect';
  /** `--allow-loopback-peers` (default true); without it a relayed address on 127.0.0.1 is a
   *  peer only as a relayed transport address the worker knows (its own or a sibling's). */
  loopbackPeers?: boolean;
}

export async function startRelayWorkers(
  user: string,
  extra: string[] = [],
  o: RelayWorkersOptions = {},
): Promise<RelayWorkers> {
  const args = [
    'relay',
    '--workers',
    String(o.workers ?? 2),
    '--workers-mode',
    o.mode ?? 'redirect',
    '--listen',
    '127.0.0.1',
    '--port',
    '0',
  ];
  const p = spawn(
    o.node ?? process.execPath,
    [
      requireBuiltCli(),
      ...args,
      ...(o.loopbackPeers === false ? [] : ['--allow-loopback-peers']),
      ...extra,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NATPUSH_TURN_USERS: user } },
  );
  const exited = new Promise((r) => p.once('exit', r));
  const lines: string[] = [];
  // SIGTERM; the relay exits on its own within its shutdown deadline (15 s, src/cli/shutdown.ts).
  // Past 20 s something is wrong: SIGKILL it (and its workers) so a test never leaks it, and say so.
  const stop = async (): Promise<void> => {
    if (p.exitCode !== null || p.signalCode !== null) return;
    const children = workerPids(p.pid!);
    p.kill('SIGTERM');
    const timer = setTimeout(() => {
      for (const pid of [p.pid!, ...children]) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone already
        }
      }
      process.stderr.write(
        `relay-workers: no exit 20 s after SIGTERM\n${lines.slice(-20).join('\n')}\n`,
      );
    }, 20_000);
    await exited;
    clearTimeout(timer);
  };
  try {
    const port = await new Promise<number>((resolve, reject) => {
      p.once('exit', (code) =>
        reject(new Error(`natpush relay --workers exited with ${code}\n${lines.join('\n')}`)),
      );
      readline.createInterface({ input: p.stderr! }).on('line', (l) => {
        lines.push(l);
        if (!l.includes('"turn relay listening"')) return;
        const m = /"udp":"[^"]*:(\d+)"/.exec(l);
        if (m) resolve(Number(m[1]));
      });
    });
    return { port, pid: p.pid!, stop, lines };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The live child processes of `pid` (Linux /proc). */
export function workerPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter((x) => x !== '')
      .map(Number);
  } catch {
    return [];
  }
}

/** Which process holds UDP `address:port` (iproute2's ss), or undefined. */
export function pidOfUdpPort(address: string, port: number): number | undefined {
  const out = execFileSync('ss', ['-Huanp', `sport = :${port}`], { encoding: 'utf8' });
  for (const line of out.split('\n')) {
    if (!line.includes(`${address}:${port} `)) continue;
    const m = /pid=(\d+)/.exec(line);
    if (m) return Number(m[1]);
  }
  return undefined;
}
