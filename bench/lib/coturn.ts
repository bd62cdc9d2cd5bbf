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

/*
 * coturn's relay ports. Two coturns whose ranges overlap answer some Allocates with 508 ("Cannot
 * create socket": the port it picked is the other's), and ranges picked at random overlapped
 * ~5 % of the time when two test files ran coturn at once. So the ranges are slots, disjoint by
 * construction: [10 000, 32 000) (below Linux's ephemeral range, 32 768+, so no socket bound to
 * port 0 ever takes a relay port) cut into 44 slots of 500 ports, and a slot is owned by whoever
 * holds its lock: a TCP listener on 127.0.0.1 port 9 000 + slot (below every range), held from
 * before coturn starts until it has stopped. The kernel makes the lock exclusive between
 * processes and within one, and frees it when its holder dies, crash included: no lockfile.
 */
const SLOT_PORTS = 500;
const SLOTS_LOW = 10_000;
const SLOT_COUNT = Math.floor((32_000 - SLOTS_LOW) / SLOT_PORTS);
const SLOT_LOCK_BASE = 9_000;
/** How long to wait for enough free slots when many coturns run at once. */
const SLOT_WAIT_MS = 60_000;

function holdPort(port: number): Promise<net.Server | undefined> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(undefined)); // held by another coturn's owner (or anyone)
    srv.listen({ port, host: '127.0.0.1', exclusive: true }, () => {
      srv.unref(); // a lock, not work: never keeps the process alive
      resolve(srv);
    });
  });
}

/** Locks enough contiguous slots for `span` relay ports; `release` unlocks them. */
export async function lockRelaySlots(
  span: number,
): Promise<{ min: number; max: number; release: () => Promise<void> }> {
  const need = Math.ceil(span / SLOT_PORTS);
  if (need > SLOT_COUNT) throw new Error(`relay range of ${span} ports: more than all slots`);
  const deadline = Date.now() + SLOT_WAIT_MS;
  for (;;) {
    // Start at a random slot: concurrent starters mostly try different slots first.
    const start = Math.floor(Math.random() * SLOT_COUNT);
    for (let i = 0; i < SLOT_COUNT; i++) {
      const first = (start + i) % SLOT_COUNT;
      if (first + need > SLOT_COUNT) continue;
      const held: net.Server[] = [];
      for (let k = first; k < first + need; k++) {
        const lock = await holdPort(SLOT_LOCK_BASE + k);
        if (!lock) break;
        held.push(lock);
      }
      const release = () =>
        Promise.all(held.map((l) => new Promise((r) => l.close(r)))).then(() => {});
      if (held.length === need) {
        const min = SLOTS_LOW + first * SLOT_PORTS;
        return { min, max: min + span - 1, release };
      }
      await release();
    }
    if (Date.now() > deadline) {
      throw new Error(
        `no ${need} free coturn relay-port slot(s) of ${SLOT_PORTS} within ${SLOT_WAIT_MS / 1_000} s (locks: TCP 127.0.0.1:${SLOT_LOCK_BASE}-${SLOT_LOCK_BASE + SLOT_COUNT - 1})`,
      );
    }
    await new Promise((r) => setTimeout(r, 200));
  }
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
  const slots = await lockRelaySlots(o.relayPorts ?? 500);
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'natpush-coturn-'));
  const args = [
    '-n',
    '--no-cli',
    '--no-tls',
    '--no-dtls',
    '--no-rfc5780',
    '--listening-ip=127.0.0.1',
    `--listening-port=${port}`,
    '--relay-ip=127.0.0.1',
    `--min-port=${slots.min}`,
    `--max-port=${slots.max}`,
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
  const stopChildAndDir = stopper(child, dir);
  // The slots stay locked until coturn is gone: its relay ports are its own for its lifetime.
  const stop = () => stopChildAndDir().finally(slots.release);
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
