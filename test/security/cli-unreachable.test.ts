/**
 * Issue 8, finding 12: the CLI lied when the server was away — `natpush send` against a server
 * that did not answer printed nothing and exited 0 (the event loop emptied while
 * `Peer.connect` still waited), and `natpush listen` retried silently forever. Here the real CLI
 * runs against a closed port, a black hole (a TCP listener that accepts and never answers) and a
 * server that authenticates but never accepts a notification, and must say so with the
 * documented exit codes (src/cli/errors.ts EXIT): 3 unreachable, 4 refused, 5 timed out, 2 usage.
 */
import { within } from '../support/deadline.js';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { EXIT } from '../../src/cli/errors.js';
import { PROTOCOL_VERSION, WS_SUBPROTOCOL } from '../../src/signaling/constants.js';
import { assertBuilt, CLI, REPO, serve } from '../integration/signaling/natpush-process.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'np-unreach-'));
  cleanups.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

const PEER = 'a'.repeat(32);

interface Run {
  stdout: () => string;
  stderr: () => string;
  /** Resolves when stderr matches. */
  stderrMatch(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>;
  kill(sig?: NodeJS.Signals): void;
}

const EXIT_DEADLINE_MS = 35_000;

function natpush(args: string[]): Run {
  assertBuilt();
  const started = Date.now();
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: REPO,
    env: { ...process.env, NATPUSH_SERVER: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  type Exit = { code: number | null; signal: NodeJS.Signals | null; ms: number };
  const exit = new Promise<Exit>((r) =>
    child.once('exit', (code, signal) => r({ code, signal, ms: Date.now() - started })),
  );
  // A CLI that never exits (what several tests guard against) fails with its output within
  // 35 s, before the tests' own timeouts (40 s, 60 s), instead of by vitest's bare timeout.
  const exited = within(
    exit,
    EXIT_DEADLINE_MS,
    `natpush ${args.join(' ')} to exit`,
    () => `stderr:\n${err.slice(-2000)}\nstdout:\n${out.slice(-2000)}`,
  );
  exited.catch(() => {}); // awaited by the test, or not at all
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exit;
    }
  });
  return {
    stdout: () => out,
    stderr: () => err,
    exited,
    kill: (sig = 'SIGTERM') => void child.kill(sig),
    async stderrMatch(re, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const m = re.exec(err);
        if (m) return m;
        if (Date.now() > deadline || child.exitCode !== null)
          throw new Error(`no ${re} in stderr:\n${err}\nstdout:\n${out}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  };
}

/** A port that refuses connections: bound, read, closed. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** A TCP listener that accepts every connection and never sends a byte. */
async function blackHole(): Promise<number> {
  const sockets = new Set<Socket>();
  const s: Server = createServer((c) => {
    sockets.add(c);
    c.on('error', () => {});
    c.on('close', () => sockets.delete(c));
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  cleanups.push(async () => {
    for (const c of sockets) c.destroy();
    await new Promise<void>((r) => s.close(() => r()));
  });
  return (s.address() as { port: number }).port;
}

/** Speaks the handshake (challenge → welcome, signature unchecked) and then ignores everything. */
async function mute(): Promise<number> {
  const wss = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    handleProtocols: () => WS_SUBPROTOCOL,
  });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  wss.on('connection', (ws) => {
    ws.on('message', (d) => {
      const m = JSON.parse(d.toString()) as { type: string; peer?: string };
      if (m.type === 'hello') {
        (ws as unknown as { peer?: string }).peer = m.peer;
        ws.send(
          JSON.stringify({
            type: 'challenge',
            server: 'mute',
            nonce: 'AAAA',
            expires: Date.now() + 60_000,
          }),
        );
      } else if (m.type === 'auth') {
        ws.send(
          JSON.stringify({
            type: 'welcome',
            v: PROTOCOL_VERSION,
            peer: (ws as unknown as { peer: string }).peer,
            server: 'mute',
            sessionToken: 'x',
            time: Date.now(),
            limits: {
              maxFrameBytes: 65536,
              maxBodyBytes: 16384,
              maxTtlSeconds: 604800,
              ratePerSecond: 50,
            },
          }),
        );
      }
    });
  });
  cleanups.push(async () => {
    for (const c of wss.clients) c.terminate();
    await new Promise<void>((r) => wss.close(() => r()));
  });
  return (wss.address() as { port: number }).port;
}

describe('finding 12: the CLI tells an absent server from success', () => {
  it('send to a closed port: exit 3 with NATPUSH_ERR_UNREACHABLE and the reason, within --timeout', async () => {
    const dir = tmp();
    const port = await closedPort();
    const r = natpush([
      'send',
      PEER,
      'hi',
      '--identity',
      join(dir, 'a.pem'),
      '--server',
      `http://127.0.0.1:${port}`,
      '--timeout',
      '1500',
    ]);
    const { code, ms } = await r.exited;
    expect(code).toBe(EXIT.UNREACHABLE);
    expect(r.stderr()).toMatch(
      /NATPUSH_ERR_UNREACHABLE: cannot reach http:\/\/127\.0\.0\.1:\d+ within 1500 ms/,
    );
    expect(r.stderr()).toMatch(/ECONNREFUSED/);
    expect(r.stdout()).toBe('');
    expect(ms).toBeGreaterThanOrEqual(1500);
  });

  it('send to a black hole with the default timeout: exit 3 after ~10 s, not a silent 0', async () => {
    const dir = tmp();
    const port = await blackHole();
    const r = natpush([
      'send',
      PEER,
      'hi',
      '--identity',
      join(dir, 'a.pem'),
      '--server',
      `http://127.0.0.1:${port}`,
    ]);
    const { code, ms } = await r.exited;
    expect(code).toBe(EXIT.UNREACHABLE);
    expect(r.stderr()).toMatch(/NATPUSH_ERR_UNREACHABLE: cannot reach .* within 10000 ms/);
    expect(ms).toBeGreaterThanOrEqual(10_000);
    expect(r.stdout()).toBe('');
  }, 40_000);

  it('send to a server that authenticates but never accepts: exit 5 (timed out)', async () => {
    const dir = tmp();
    const port = await mute();
    const r = natpush([
      'send',
      PEER,
      'hi',
      '--identity',
      join(dir, 'a.pem'),
      '--server',
      `http://127.0.0.1:${port}`,
      '--timeout',
      '1000',
    ]);
    const { code } = await r.exited;
    expect(code).toBe(EXIT.TIMED_OUT);
    expect(r.stderr()).toMatch(/NATPUSH_ERR_REQUEST_TIMEOUT: the server did not accept/);
  });

  it('send refused by a real server (unknown peer): exit 4', async () => {
    const dir = tmp();
    const s = await serve(join(dir, 'data'));
    cleanups.push(() => s.p.kill());
    const r = natpush(['send', PEER, 'hi', '--identity', join(dir, 'a.pem'), '--server', s.url]);
    expect((await r.exited).code).toBe(EXIT.REFUSED);
    expect(r.stderr()).toMatch(/NATPUSH_ERR_UNKNOWN_PEER/);
  });

  it('listen to a black hole and a closed port says on stderr that it retries and when', async () => {
    const dir = tmp();
    for (const port of [await closedPort(), await blackHole()]) {
      const r = natpush([
        'listen',
        '--identity',
        join(dir, 'b.pem'),
        '--server',
        `http://127.0.0.1:${port}`,
      ]);
      const m = await r.stderrMatch(
        /cannot reach http:\/\/127\.0\.0\.1:\d+ \((.+)\); retrying, next attempt in (\d+\.\d) s \(retry 1\)/,
      );
      expect(m[1]).toMatch(/ECONNREFUSED|handshake has timed out/);
      // still running (not a silent exit), and Ctrl-C ends it cleanly
      expect(r.stdout()).toBe('');
      r.kill('SIGTERM');
      const { code } = await r.exited;
      expect(code).toBe(0);
    }
  }, 40_000);

  it('listen --json reports retries as JSON events', async () => {
    const dir = tmp();
    const r = natpush([
      'listen',
      '--json',
      '--identity',
      join(dir, 'b.pem'),
      '--server',
      `http://127.0.0.1:${await closedPort()}`,
    ]);
    const m = await r.stderrMatch(/^\{"event":"retrying".*\}$/m);
    expect(JSON.parse(m[0])).toMatchObject({
      event: 'retrying',
      code: 'NATPUSH_ERR_CONNECTION_CLOSED',
      attempt: 1,
    });
    r.kill('SIGTERM');
    await r.exited;
  });

  it('usage errors exit 2: listen --count 0, send --timeout 0', async () => {
    const dir = tmp();
    for (const args of [
      ['listen', '--count', '0'],
      ['listen', '--count', '-3'],
      ['listen', '--count', '1.5'],
      ['send', PEER, 'x', '--timeout', '0'],
    ]) {
      const r = natpush([
        ...args,
        '--identity',
        join(dir, 'a.pem'),
        '--server',
        'http://127.0.0.1:9',
      ]);
      const { code } = await r.exited;
      expect(code, args.join(' ')).toBe(EXIT.USAGE);
      expect(r.stderr()).toMatch(/must be/);
    }
  });

  it('--help documents every exit code', async () => {
    const r = natpush(['--help']);
    expect((await r.exited).code).toBe(0);
    for (const [code, what] of [
      [EXIT.OK, 'delivered or stored'],
      [EXIT.USAGE, 'usage error'],
      [EXIT.UNREACHABLE, 'unreachable'],
      [EXIT.REFUSED, 'refused or denied'],
      [EXIT.TIMED_OUT, 'timed out'],
    ] as const)
      expect(r.stdout()).toMatch(new RegExp(`^\\s+${code}\\s+.*${what}`, 'm'));
  });
});
