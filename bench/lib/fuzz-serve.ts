/**
 * A real `natpush serve` (the built CLI, dist/src/cli/main.js) as a child process on loopback,
 * every port 0, for the fuzz and memory tiers: its signaling URL, STUN and TURN UDP ports, the
 * API key it generated, its RSS from /proc, its stdout/stderr for the error log check.
 * Shared by bench/*-fuzz.ts and test/security/{fuzz,memory}-*.test.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

/** The built CLI. From bench/lib (tests) or dist/bench/lib (benches) alike. */
function cliPath(): string {
  const here = fileURLToPath(new URL('.', import.meta.url));
  const candidates = [
    join(here, '../../src/cli/main.js'), // dist/bench/lib → dist/src
    join(here, '../../dist/src/cli/main.js'), // bench/lib → dist/src
  ];
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new Error(`natpush CLI not built (${candidates[1]}): run \`npm run build\``);
  return found;
}

export interface FuzzServe {
  child: ChildProcess;
  pid: number;
  /** http://127.0.0.1:PORT */
  url: string;
  port: number;
  stunPort: number | undefined;
  turnPort: number | undefined;
  apiKey: string;
  dataDir: string;
  /** Everything the process wrote so far. */
  stdout(): string;
  stderr(): string;
  /** Resident set size in bytes (VmRSS of /proc/PID/status); undefined once it has exited. */
  rss(): number | undefined;
  /** Set once the process exited (a crash, when we did not stop it). */
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  /**
   * A full garbage collection in the server, through the V8 inspector (`inspect: true` only):
   * serve has no GC hook of its own, and RSS read without one says more about V8's heap
   * growth policy than about what the server still holds.
   */
  gc(): Promise<void>;
  /** V8 heap in use (bytes), through the inspector (`inspect: true` only). */
  heapUsed(): Promise<number>;
  /** SIGTERM, then SIGKILL after `graceMs`; removes the data dir. */
  stop(graceMs?: number): Promise<void>;
}

/** VmRSS of a process in bytes, or undefined when it is gone. */
export function processRss(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** One call of the Chrome DevTools protocol over the inspector's WebSocket. */
async function inspectorCall(url: string, method: string, params: object = {}): Promise<unknown> {
  const ws = new WebSocket(url);
  try {
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return await new Promise((resolve, reject) => {
      ws.on('message', (d) => {
        const m = JSON.parse(String(d)) as { id?: number; result?: unknown; error?: unknown };
        if (m.id !== 1) return;
        if (m.error) reject(new Error(`${method}: ${JSON.stringify(m.error)}`));
        else resolve(m.result);
      });
      ws.send(JSON.stringify({ id: 1, method, params }));
    });
  } finally {
    ws.close();
  }
}

export async function startFuzzServe(
  o: {
    extraArgs?: string[];
    nodeArgs?: string[];
    /** Open the V8 inspector on a loopback port, for `gc()` and `heapUsed()`. */
    inspect?: boolean;
    timeoutMs?: number;
  } = {},
): Promise<FuzzServe> {
  const dataDir = mkdtempSync(join(tmpdir(), 'np-fuzz-'));
  const args = [
    ...(o.inspect ? ['--inspect=127.0.0.1:0'] : []),
    ...(o.nodeArgs ?? []),
    cliPath(),
    ...'serve --host 127.0.0.1 --port 0 --stun-port 0 --relay-port 0 --log-level warn'.split(' '),
    '--data-dir',
    dataDir,
    ...(o.extraArgs ?? []),
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let onOut = (): void => {};
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    onOut();
  });
  child.stderr!.on('data', (d: Buffer) => {
    // Bounded: a log flood must not eat the fuzzer's memory; the head is what we report.
    if (err.length < 1 << 20) err += d.toString();
  });
  const handle: FuzzServe = {
    child,
    pid: child.pid ?? -1,
    url: '',
    port: 0,
    stunPort: undefined,
    turnPort: undefined,
    apiKey: '',
    dataDir,
    stdout: () => out,
    stderr: () => err,
    rss: () => (handle.exit ? undefined : processRss(child.pid ?? -1)),
    exit: undefined,
    gc: async () => {
      await inspectorCall(inspector(), 'HeapProfiler.collectGarbage');
    },
    heapUsed: async () => {
      const r = (await inspectorCall(inspector(), 'Runtime.getHeapUsage')) as { usedSize: number };
      return r.usedSize;
    },
    stop: async (graceMs = 5_000) => {
      if (!handle.exit) {
        const exited = new Promise<void>((r) => child.once('exit', () => r()));
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(t);
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  const inspector = (): string => {
    const m = /Debugger listening on (ws:\/\/\S+)/.exec(err);
    if (!m) throw new Error('serve was not started with inspect: true');
    return m[1]!;
  };
  child.once('exit', (code, signal) => (handle.exit = { code, signal }));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`serve did not start:\n${out}\n${err}`)),
      o.timeoutMs ?? 20_000,
    );
    child.once('exit', () => {
      clearTimeout(timer);
      reject(new Error(`serve exited at start-up:\n${out}\n${err}`));
    });
    onOut = () => {
      // The API key line is printed last, after every service's endpoints.
      if (!/API key in (\S+)/.test(out)) return;
      clearTimeout(timer);
      resolve();
    };
    onOut();
  });
  onOut = () => {};
  const sig = /signaling listening on (http:\/\/127\.0\.0\.1:(\d+))/.exec(out);
  if (!sig) throw new Error(`no signaling URL in:\n${out}`);
  handle.url = sig[1]!;
  handle.port = Number(sig[2]);
  handle.stunPort = num(/stun listening on stun:127\.0\.0\.1:(\d+) \(udp\)/.exec(out));
  handle.turnPort = num(/turn listening on turn:127\.0\.0\.1:(\d+)\?transport=udp/.exec(out));
  const keyFile = /API key in (\S+)/.exec(out)?.[1];
  handle.apiKey = keyFile ? readFileSync(keyFile, 'utf8').trim() : '';
  return handle;
}

function num(m: RegExpExecArray | null): number | undefined {
  return m ? Number(m[1]) : undefined;
}
