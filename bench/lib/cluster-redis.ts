/**
 * A throwaway redis-server for one test file or bench run: its own temp dir, a unix socket and no TCP port
 * (`--port 0`), so nothing can collide with another test or helper; AOF with
 * `appendfsync always`, the persistence natpush's 202 relies on (redis-store.ts). `restart()`
 * stops it (SIGTERM, or SIGKILL with `{ kill: true }`) and starts it again on the same data.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { guardChild, stopChild } from './child-guard.js';

export interface TestRedis {
  /** `unix:///…/redis.sock` for `--redis`. */
  url: string;
  socket: string;
  /** `whileDown`: awaited while it is stopped (a test's wait for its effect, by event). */
  restart(o?: {
    kill?: boolean;
    downMs?: number;
    whileDown?: () => Promise<unknown>;
  }): Promise<void>;
  stop(): Promise<void>;
  /** A client for assertions (closed by stop()). */
  client(): Redis;
}

/** How long a (re)started redis-server gets to answer PING: generous, CI runs under load. */
const READY_MS = 30_000;

export async function startRedis(): Promise<TestRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'natpush-redis-'));
  const socket = join(dir, 'redis.sock');
  let child: ChildProcess | undefined;
  const clients: Redis[] = [];
  const launch = async () => {
    const c = spawn(
      'redis-server',
      [
        '--port',
        '0',
        '--unixsocket',
        socket,
        '--unixsocketperm',
        '700',
        '--dir',
        dir,
        '--appendonly',
        'yes',
        '--appendfsync',
        'always',
        '--save',
        '',
        '--loglevel',
        'warning',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    c.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    child = c;
    guardChild(c); // never outlives the test worker, even when its afterAll times out
    // Ready when it answers PING on the socket: a time deadline (a count of tries was ~5 s,
    // too short under CI load), failing early, with redis's own words, if it exits.
    const deadline = Date.now() + READY_MS;
    for (;;) {
      if (c.exitCode !== null || c.signalCode !== null) {
        throw new Error(
          `redis-server exited (code ${c.exitCode}, signal ${c.signalCode}) before answering PING on ${socket}; it said: ${out.trim().slice(-2_000) || '(nothing)'}`,
        );
      }
      const r = new Redis({
        path: socket,
        lazyConnect: true,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
      });
      r.on('error', () => {});
      let last: unknown;
      try {
        await r.connect();
        await r.ping();
        r.disconnect();
        return;
      } catch (err) {
        last = err;
        r.disconnect();
      }
      if (Date.now() > deadline) {
        await stopChild(c); // not left running behind the failure
        throw new Error(
          `redis-server did not answer PING on ${socket} within ${READY_MS / 1_000} s (last error: ${String(last)}); it said: ${out.trim().slice(-2_000) || '(nothing)'}`,
        );
      }
      await sleep(50);
    }
  };
  const halt = async (sig: NodeJS.Signals) => {
    const c = child;
    child = undefined;
    // Bounded: SIGTERM gets 5 s to write the AOF, then SIGKILL (child-guard.ts).
    if (c) await stopChild(c, { signal: sig, graceMs: 5_000 });
  };
  await launch();
  return {
    url: `unix://${socket}`,
    socket,
    async restart(o = {}) {
      await halt(o.kill ? 'SIGKILL' : 'SIGTERM');
      if (o.downMs) await sleep(o.downMs);
      if (o.whileDown) await o.whileDown().finally(launch);
      else await launch();
    },
    async stop() {
      for (const c of clients.splice(0)) c.disconnect();
      await halt('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
    client() {
      const r = new Redis({ path: socket });
      r.on('error', () => {});
      clients.push(r);
      return r;
    },
  };
}
