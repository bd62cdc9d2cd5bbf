/**
 * Start and stop coturn's `turnserver` (Debian package coturn) for interop tests and benchmarks:
 * loopback only, free ports chosen at run time, no CLI, no TLS, its own pid file, killed by pid.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  decodeStunMessage,
  isStunMessage,
  Method,
  StunClass,
  StunMessageBuilder,
} from '../../src/stun/index.js';
import { guardChild, stopChild } from './child-guard.js';

export interface CoturnOptions {
  /** TURN REST secret (use-auth-secret); or static users with lt-cred-mech. */
  secret?: string;
  users?: Record<string, string>;
  realm?: string;
  extraArgs?: string[];
  /** Size of the relayed port range; default 500. */
  relayPorts?: number;
}

export interface Coturn {
  port: number;
  process: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

/** A port free for both UDP and TCP on 127.0.0.1 right now. */
export async function freePort(): Promise<number> {
  for (;;) {
    const tcp = net.createServer();
    await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r));
    const port = (tcp.address() as net.AddressInfo).port;
    const udp = dgram.createSocket('udp4');
    const ok = await new Promise<boolean>((r) => {
      udp.once('error', () => r(false));
      udp.bind(port, '127.0.0.1', () => r(true));
    });
    udp.close();
    await new Promise((r) => tcp.close(r));
    if (ok) return port;
  }
}

/** Resolve when a STUN Binding to 127.0.0.1:port is answered; reject after `ms`. */
export async function waitForStun(port: number, ms = 10_000, address = '127.0.0.1'): Promise<void> {
  const sock = dgram.createSocket('udp4');
  sock.on('error', () => {}); // a send to a port nobody holds yet; the deadline decides
  let poll: ReturnType<typeof setInterval> | undefined;
  let deadline: ReturnType<typeof setTimeout> | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      deadline = setTimeout(() => reject(new Error(`no STUN answer on ${address}:${port}`)), ms);
      sock.on('message', (m) => {
        if (isStunMessage(m) && decodeStunMessage(m).cls === StunClass.Success) resolve();
      });
      poll = setInterval(() => {
        sock.send(StunMessageBuilder.of(Method.Binding, StunClass.Request).build(), port, address);
      }, 100);
    });
  } finally {
    // Both timers go on every path, before the socket. The poll used to be cleared only on an
    // answer: after a timeout (a coturn start that startCoturnStun then retried) it sent on the
    // closed socket, an uncaught ERR_SOCKET_DGRAM_NOT_RUNNING that failed a CI run in which
    // every test passed.
    clearInterval(poll);
    clearTimeout(deadline);
    sock.close();
  }
}

/** Stops a turnserver child (SIGTERM, SIGKILL after 3 s, bounded wait) and removes its scratch directory. */
export function stopper(child: ChildProcess, dir: string): () => Promise<void> {
  guardChild(child); // never outlives the test worker, even when its afterAll times out
  return async () => {
    await stopChild(child, { signal: 'SIGTERM', graceMs: 3_000 });
    rmSync(dir, { recursive: true, force: true });
  };
}

/**
 * Up to three tries, each on a fresh port: freePort()'s port is free when probed, not
 * necessarily when turnserver binds it a second or more later on a loaded machine (another
 * test's socket may take it), and a turnserver that never answers is stopped and replaced.
 */
export async function startCoturn(o: CoturnOptions): Promise<Coturn> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startCoturnOnce(o);
    } catch (err) {
      if (attempt >= 3) throw err;
    }
  }
}

async function startCoturnOnce(o: CoturnOptions): Promise<Coturn> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'natpush-coturn-'));
  const span = o.relayPorts ?? 500;
  // Below Linux's ephemeral range (32768+), so client sockets bound to port 0 never take
  // coturn's relay ports (coturn answers 508 "Cannot create socket" when its pick is taken).
  const minPort = 10_000 + Math.floor(Math.random() * (32_000 - span - 10_000));
  const args = [
    '-n',
    '--no-cli',
    '--no-tls',
    '--no-dtls',
    '--no-rfc5780',
    '--listening-ip=127.0.0.1',
    `--listening-port=${port}`,
    '--relay-ip=127.0.0.1',
    `--min-port=${minPort}`,
    `--max-port=${minPort + span}`,
    '--allow-loopback-peers',
    `--realm=${o.realm ?? 'natpush'}`,
    `--pidfile=${join(dir, 'turnserver.pid')}`,
    `--userdb=${join(dir, 'turndb')}`,
    '--log-file=stdout',
    '--simple-log',
    ...(o.secret ? ['--use-auth-secret', `--static-auth-secret=${o.secret}`] : ['--lt-cred-mech']),
    ...Object.entries(o.users ?? {}).map(([u, p]) => `--user=${u}:${p}`),
    ...(o.extraArgs ?? []),
  ];
  const child = spawn('turnserver', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
  child.stderr.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
  const stop = stopper(child, dir);
  try {
    await waitForStun(port);
    // coturn answers STUN before its relay ports are ready; Allocates meanwhile get 508.
    const ready = Date.now() + 20_000;
    while (!out.includes('Relay ports initialization done')) {
      if (Date.now() > ready) throw new Error('relay ports not initialized within 20 s');
      await new Promise((r) => setTimeout(r, 50));
    }
  } catch (err) {
    await stop();
    throw new Error(`turnserver did not come up: ${String(err)}\n${out}`);
  }
  return { port, process: child, output: () => out, stop };
}

export interface UclientResult {
  sent: number;
  received: number;
  lost: number;
  output: string;
  code: number | null;
}

/** Run turnutils_uclient and parse its totals. */
export function runUclient(args: string[], timeoutMs = 60_000): Promise<UclientResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('turnutils_uclient', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`turnutils_uclient timed out\n${out.slice(-3000)}`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(t);
      const sent = /tot_send_msgs=(\d+), tot_recv_msgs=(\d+)\s*$/m.exec(out);
      const lost = /Total lost packets (\d+)/.exec(out);
      resolve({
        sent: Number(sent?.[1] ?? -1),
        received: Number(sent?.[2] ?? -1),
        lost: Number(lost?.[1] ?? -1),
        output: out,
        code,
      });
    });
  });
}
