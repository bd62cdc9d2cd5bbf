/**
 * Notifications over a direct natpush path against a raw UDP socket pair, same lab, same run.
 *
 *   npm run build && node dist/bench/direct-throughput.js [--messages 20000] [--light 500] [--connector]
 *
 * Lab (bench/lib/punch-lab.ts, no added delay: the kernel NATs are there, the NFQUEUE delay line
 * is not, so it does not cap the rate): hosts a and b behind their own port-restricted NATs,
 * `natpush serve` on the internet server.
 *
 * natpush: two logged-in peers (test/support/ladder-peer.mjs); A pings B until the ladder is on
 * a direct path, then sends notifications to B — through `Peer.notify` once g-peer's ladder is
 * built (each must report path `direct`), else straight through the e-session ReliableChannel on
 * the punched path. Per body size (100 and 1,000 bytes):
 *   - flood: `--messages` notifications, at most 64 unacknowledged (each `notify` resolves on B's
 *     ack); messages/s = all acknowledged / elapsed; one-way latency p50/p99 at B (sender's wall
 *     time in the body; both processes read the same machine clock).
 *   - light: `--light` notifications one at a time (window 1): one-way latency p50/p99.
 * raw UDP: a plain socket on each host (bench/lib/punch-raw-udp.ts) punched through the same
 * NATs. flood: `--messages` × 4 datagrams as fast as the socket takes them — delivered/s at B
 * (first to last arrival) and loss; light: one datagram every 2 ms, one-way latency.
 * Both get an unmeasured warm-up first (JIT). The ratio natpush/raw is of delivered messages/s
 * (target ≥ 0.5). `--connector`: the channel on the punched path without `Peer.notify` on top. The machine is shared: the
 * load average is printed with the figures.
 */
import { fileURLToPath } from 'node:url';
import {
  createPunchLab,
  fmt,
  lineChild,
  load,
  percentile,
  type LineChild,
  type PunchLab,
} from './lib/punch-lab.js';

const LADDER_PEER = fileURLToPath(new URL('../../test/support/ladder-peer.mjs', import.meta.url));
const RAW_PEER = fileURLToPath(new URL('./lib/punch-raw-udp.js', import.meta.url));
const SIZES = [100, 1000];

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}
const WINDOW = arg('--window', 64);
/** Long enough to reach steady state: 5,000 still showed start-up effects (one run: 5k vs 12k/s). */
const MESSAGES = arg('--messages', 20_000);
const LIGHT = arg('--light', 500);
/** `--connector`: the channel straight on the punched path, without `Peer.notify` on top. */
const CONNECTOR = process.argv.includes('--connector');
/** `--prof DIR`: each peer process writes a V8 CPU profile there (`node --cpu-prof`). */
const PROF_DIR = process.argv.includes('--prof')
  ? process.argv[process.argv.indexOf('--prof') + 1]
  : undefined;
const PROF = PROF_DIR ? ['--cpu-prof', '--cpu-prof-dir', PROF_DIR] : [];

interface Rx {
  n: number;
  firstAt: number;
  lastAt: number;
  latencies: number[];
  paths?: Record<string, number>;
}

interface Figures {
  perSecond: number;
  delivered: number;
  offered: number;
  p50: number;
  p99: number;
  lightP50: number;
  lightP99: number;
  note: string;
}

function lat(xs: number[]): { p50: number; p99: number } {
  const s = [...xs].sort((x, y) => x - y);
  return { p50: percentile(s, 50), p99: percentile(s, 99) };
}

function spawn(pl: PunchLab, host: string, script: string, args: string[]): LineChild {
  return lineChild(
    pl.lab.spawn(host, process.execPath, [...PROF, script, ...args], {
      stdio: ['pipe', 'pipe', 'inherit'],
      env: { ...process.env, NATPUSH_BENCH_MODE: CONNECTOR ? 'connector' : '' },
    }),
    `${host} ${script.split('/').pop()}`,
  );
}

async function natpush(pl: PunchLab): Promise<Record<number, Figures>> {
  const a = spawn(pl, 'a', LADDER_PEER, [pl.serverUrl]);
  const b = spawn(pl, 'b', LADDER_PEER, [pl.serverUrl]);
  const out: Record<number, Figures> = {};
  try {
    a.send({ login: {} });
    b.send({ login: {} });
    const [, rb] = await Promise.all([
      a.next<{ id: string }>('ready'),
      b.next<{ id: string; publicKey: string; mode: string }>('ready'),
    ]);
    a.send({
      ping: { to: rb.id, publicKey: rb.publicKey, count: 400, untilDirect: true, intervalMs: 50 },
    });
    for (;;) {
      const p = await a.next<{ path: string }>('pong', 20_000);
      if (p.path === 'direct') break;
    }
    await a.next('pinged');
    console.log(`natpush (${rb.mode} mode): direct path up`);
    // Warm-up, not measured: the first thousand notifications pay for JIT compilation.
    a.send({ flood: { to: rb.id, n: 1000, size: 100, window: WINDOW } });
    await a.next('flooded', 120_000);
    await b.next<Rx>('floodRx', 30_000);
    for (const size of SIZES) {
      a.send({ flood: { to: rb.id, n: MESSAGES, size, window: WINDOW } });
      const sent = await a.next<{ n: number; ms: number; errors: number; paths: object }>(
        'flooded',
        120_000,
      );
      const rx = await b.next<Rx>('floodRx', 30_000);
      a.send({ flood: { to: rb.id, n: LIGHT, size, window: 1 } });
      await a.next('flooded', 120_000);
      const light = await b.next<Rx>('floodRx', 30_000);
      const l = lat(rx.latencies);
      const ll = lat(light.latencies);
      out[size] = {
        perSecond: rx.n / (sent.ms / 1000),
        delivered: rx.n,
        offered: MESSAGES,
        p50: l.p50,
        p99: l.p99,
        lightP50: ll.p50,
        lightP99: ll.p99,
        note:
          `all acked in ${fmt(sent.ms)} ms, ${sent.errors} errors, sender paths ${JSON.stringify(sent.paths)}, ` +
          `receiver paths ${JSON.stringify(rx.paths ?? {})}`,
      };
    }
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
  return out;
}

async function rawUdp(pl: PunchLab): Promise<Record<number, Figures>> {
  const a = spawn(pl, 'a', RAW_PEER, []);
  const b = spawn(pl, 'b', RAW_PEER, []);
  const out: Record<number, Figures> = {};
  try {
    const [pa, pb] = await Promise.all([
      a.next<{ port: number }>('bound'),
      b.next<{ port: number }>('bound'),
    ]);
    // Port-restricted cone NATs keep the local port (netsim presets): the public endpoint is
    // the NAT's address and the socket's port.
    a.send({ punch: { address: pl.lab.address('nb'), port: pb.port } });
    b.send({ punch: { address: pl.lab.address('na'), port: pa.port } });
    await Promise.all([a.next('punched', 10_000), b.next('punched', 10_000)]);
    a.send({ blast: { n: 4000, size: 100, rate: 0 } }); // warm-up, as for natpush
    await a.next('blasted', 120_000);
    await b.next<Rx>('rx', 30_000);
    for (const size of SIZES) {
      const n = MESSAGES * 4;
      a.send({ blast: { n, size, rate: 0 } });
      await a.next('blasted', 120_000);
      const rx = await b.next<Rx>('rx', 30_000);
      a.send({ blast: { n: LIGHT, size, rate: 500 } });
      await a.next('blasted', 120_000);
      const light = await b.next<Rx>('rx', 30_000);
      const l = lat(rx.latencies);
      const ll = lat(light.latencies);
      const span = Math.max(1, rx.lastAt - rx.firstAt);
      out[size] = {
        perSecond: rx.n / (span / 1000),
        delivered: rx.n,
        offered: n,
        p50: l.p50,
        p99: l.p99,
        lightP50: ll.p50,
        lightP99: ll.p99,
        note: `loss ${fmt((1 - rx.n / n) * 100, 2)} %`,
      };
    }
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
  return out;
}

async function main(): Promise<void> {
  console.log(
    `direct-throughput: ${MESSAGES} notifications per size (window ${WINDOW}), ${LIGHT} one at a time; raw UDP ${MESSAGES * 4} datagrams`,
  );
  console.log(`load before: ${load()}`);
  const pl = await createPunchLab(0);
  try {
    const np = await natpush(pl);
    console.log(`load: ${load()}`);
    const raw = await rawUdp(pl);
    console.log(
      `\n  ${'size'.padStart(5)} ${'path'.padEnd(8)} ${'msg/s'.padStart(8)} ${'Mbit/s'.padStart(7)} ${'delivered'.padStart(13)} ${'p50 ms'.padStart(7)} ${'p99 ms'.padStart(7)} ${'light p50'.padStart(9)} ${'light p99'.padStart(9)}`,
    );
    for (const size of SIZES) {
      for (const [name, f] of [
        ['natpush', np[size]!],
        ['raw UDP', raw[size]!],
      ] as const) {
        console.log(
          `  ${String(size).padStart(5)} ${name.padEnd(8)} ${fmt(f.perSecond).padStart(8)} ${fmt((f.perSecond * size * 8) / 1e6, 1).padStart(7)} ${`${f.delivered}/${f.offered}`.padStart(13)} ${fmt(f.p50, 2).padStart(7)} ${fmt(f.p99, 2).padStart(7)} ${fmt(f.lightP50, 2).padStart(9)} ${fmt(f.lightP99, 2).padStart(9)}  ${f.note}`,
        );
      }
      console.log(
        `  ratio natpush/raw UDP ${size} B: ${fmt(np[size]!.perSecond / raw[size]!.perSecond, 2)} (msg/s; target ≥ 0.5)`,
      );
    }
  } finally {
    await pl.destroy();
  }
  console.log(`load after: ${load()}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
