/**
 * One load-generator process for bench/stun-binding.ts (forked; talks over IPC).
 *
 * closed loop: `sockets` UDP sockets each keep `window` Binding requests outstanding; every
 * response sends the next request. A 100 ms tick refills windows shrunk by loss, so the loop never
 * stalls. Measures responses/s over `durationMs` after `warmupMs`.
 * open loop (`rate` > 0): sends `rate` requests/s in 1 ms batches regardless of answers and
 * counts what comes back: loss = sent − received after a drain pause.
 *
 * Raw node:dgram, not our UdpNetwork or dgram-as-promised: the generator must not be the thing
 * measured, and a promise per send costs ~1 µs and an allocation on the hot loop.
 */
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import { randomFillSync } from 'node:crypto';

export interface LoadArgs {
  address: string;
  port: number;
  sockets: number;
  window: number;
  warmupMs: number;
  durationMs: number;
  /** Requests per second for the open-loop mode; 0 = closed loop. */
  rate: number;
}

export interface LoadResult {
  sent: number;
  received: number;
  /** Datagrams the kernel dropped on this generator's own sockets (receive buffer full). */
  socketDrops: number;
  wallMs: number;
  cpuMs: number;
}

/** Requests whose transaction id starts with `tag`, so answers to warm-up traffic are told
 *  apart from answers to measured traffic. */
function requests(n: number, tag: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const b = Buffer.alloc(20);
    b.writeUInt16BE(0x0001, 0);
    b.writeUInt32BE(0x2112a442, 4);
    randomFillSync(b, 8, 12);
    b[8] = tag;
    out.push(b);
  }
  return out;
}

/** Sum of the `drops` column of /proc/net/udp for sockets on these local ports. */
export function udpDrops(ports: number[]): number {
  const want = new Set(ports.map((p) => p.toString(16).toUpperCase().padStart(4, '0')));
  let drops = 0;
  for (const l of readFileSync('/proc/net/udp', 'utf8').split('\n').slice(1)) {
    const f = l.trim().split(/\s+/);
    if (f.length > 12 && want.has(f[1]!.split(':')[1]!)) drops += Number(f[f.length - 1]);
  }
  return drops;
}

async function run(a: LoadArgs): Promise<LoadResult> {
  const warm = requests(1024, 0);
  const measured = requests(1024, 1);
  let k = 0;
  let counting = false;
  const next = (): Buffer => (counting ? measured : warm)[k++ & 1023]!;
  let sent = 0;
  let received = 0;
  const socks: dgram.Socket[] = [];
  const lastSeen: number[] = [];
  for (let i = 0; i < a.sockets; i++) {
    const s = dgram.createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
    s.setRecvBufferSize(4 << 20);
    s.setSendBufferSize(4 << 20);
    const idx = i;
    lastSeen.push(Date.now());
    s.on('message', (m: Buffer) => {
      if (m[8] === 1) received++;
      lastSeen[idx] = Date.now();
      if (a.rate === 0) {
        if (counting) sent++;
        s.send(next(), a.port, a.address);
      }
    });
    socks.push(s);
  }
  let tick: NodeJS.Timeout;
  if (a.rate === 0) {
    for (const s of socks) for (let j = 0; j < a.window; j++) s.send(next(), a.port, a.address);
    // Refill: a socket silent for 100 ms lost its whole window; put it back.
    tick = setInterval(() => {
      const now = Date.now();
      socks.forEach((s, i) => {
        if (now - lastSeen[i]! > 100) {
          lastSeen[i] = now;
          for (let j = 0; j < a.window; j++) s.send(next(), a.port, a.address);
        }
      });
    }, 100);
  } else {
    const perMs = a.rate / 1000;
    let owed = 0;
    let last = performance.now();
    tick = setInterval(() => {
      const now = performance.now();
      owed += (now - last) * perMs;
      last = now;
      let i = 0;
      while (owed >= 1) {
        socks[i++ % socks.length]!.send(next(), a.port, a.address);
        if (counting) sent++;
        owed--;
      }
    }, 1);
  }
  await new Promise((r) => setTimeout(r, a.warmupMs));
  counting = true;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, a.durationMs));
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  if (a.rate > 0) {
    clearInterval(tick);
    await new Promise((r) => setTimeout(r, 500)); // drain: answers still in flight count
  }
  counting = false;
  clearInterval(tick);
  const socketDrops = udpDrops(socks.map((s) => s.address().port));
  for (const s of socks) s.close();
  return { sent, received, socketDrops, wallMs, cpuMs: (cpu.user + cpu.system) / 1000 };
}

if (process.send) {
  process.once('message', (a: LoadArgs) => {
    void run(a).then((r) => {
      process.send!(r);
      process.disconnect();
    });
  });
}
