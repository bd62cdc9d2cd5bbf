/**
 * Notifications over a direct natpush path against a raw UDP socket pair, same lab, same run.
 *
 *   npm run build && node dist/bench/direct-throughput.js [--messages 20000] [--light 500] [--connector]
 *     [--sizes 100,1000] [--compare JSON] [--baseline DIR] [--window W] [--warmup N]
 *     [--node-args 'FLAGS'] [--udp-io mmsg,dgram]   (--help: the options)
 *
 * Lab (bench/lib/punch-lab.ts, no added delay: the kernel NATs are there, the NFQUEUE delay line
 * is not, so it does not cap the rate): hosts a and b behind their own port-restricted NATs,
 * `natpush serve` on the internet server.
 *
 * natpush: two logged-in peers (test/support/ladder-peer.mjs); A pings B until the ladder is on
 * a direct path, then sends notifications to B — through `Peer.notify` once g-peer's ladder is
 * built (each must report path `direct`), else straight through the e-session ReliableChannel on
 * the punched path. Per body size (100 and 1,000 bytes):
 *   - flood: `--messages` notifications, at most `--window` (default 1,000) unacknowledged
 *     (each `notify` resolves on B's ack); messages/s = all acknowledged / elapsed; one-way latency p50/p99 at B (sender's wall
 *     time in the body; both processes read the same machine clock).
 *   - light: `--light` notifications one at a time (window 1): one-way latency p50/p99.
 * raw UDP: a plain socket on each host (bench/lib/punch-raw-udp.ts) punched through the same
 * NATs. flood: `--messages` × 4 datagrams as fast as the socket takes them — delivered/s at B
 * (first to last arrival) and loss; light: one datagram every 2 ms, one-way latency.
 * Both get an unmeasured warm-up first: raw UDP 4,000 datagrams; natpush `--warmup` notifications
 * (default 5,000) of the size about to be measured, before each size. Round 15: the warm-up was
 * 1,000 notifications of 100 bytes before both sizes, and a 20,000-notification flood then still
 * paid for its start — JIT of the path the warm-up had not run, and V8's young generation still
 * small (a scavenge copies every notification in flight): at 1,000 B, CPU per message 43.5 / 34.0
 * µs (sender / receiver) after that warm-up against 30.0 / 19.0 µs after 20,000 of the same size,
 * same load (8); 150,000-notification floods settle at 28–32 / 17–23 µs. `--node-args
 * '--min-semi-space-size=16'` (the young generation at its full size from the start) took the
 * short flood from 38–39.5 / 30–32 to 31.5–36.5 / 23.5–25.5 µs. The ratio natpush/raw is of delivered messages/s
 * (target ≥ 0.5). Per flood also: CPU time per delivered message of the sending and the
 * receiving process (/proc/PID/stat: less sensitive to a shared machine's load than the rate),
 * messages per datagram the sender's host sent, and datagrams the receiver's host sent back
 * (acks; /proc/net/snmp of each namespace, which holds only that peer). `--window W`: at most W
 * notifications unacknowledged (the app's concurrency; the channel's own congestion window
 * decides what is in flight below it). `--connector`: the channel on the punched path without
 * `Peer.notify` on top. `--prof DIR`: a V8 CPU profile per process; `--perf`: perf maps (below).
 * The machine is shared: the load average is printed with the figures.
 *
 * Where a sender's time goes (round 15; perf -a over 3 s of a 150,000-notification 1,000-B flood,
 * load 3, and `--prof` V8 profiles of the same): the kernel is half of the natpush sender's CPU
 * (a UDP send carries the packet through the lab's veths, bridges and NATs in the sender's own
 * context — raw UDP's sender is 82 % kernel), then V8's garbage collector (7 % of the busy time
 * in both processes: what a flood keeps in flight — its bodies, the app's promises — is copied
 * by every scavenge), libsodium (seal 2.5 µs per 1,170 B), the Outbox (~2 µs) and the channel's
 * framing (~2 µs); the receiver's largest shares are node's per-datagram receive buffer (malloc
 * and copy, ~11 %), GC, the Peer's dedupe table and the AEAD open. No timer, promise or cipher
 * object per datagram in the channel, no scan of the window per ack. A 100-byte flood's datagram
 * carries 8 notifications: "200 µs of CPU per datagram" is ~25 µs per notification × 8.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RELIABLE_DEFAULTS } from '../src/session/reliable.js';
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

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}
/**
 * Notifications the app keeps unacknowledged. 1,000 (below the channel's 1,792-message queue, so
 * nothing is refused): the channel's congestion window, not the app, decides what is in flight.
 * Round 1 used 64, which capped a flood at 64 in flight whatever the channel could do.
 */
const WINDOW = arg('--window', 1000);
/** Long enough to reach steady state: 5,000 still showed start-up effects (one run: 5k vs 12k/s). */
const MESSAGES = arg('--messages', 20_000);
const LIGHT = arg('--light', 500);
/** Unmeasured notifications of each size before it is measured (header: why 5,000). */
const WARMUP = arg('--warmup', 5000);
/**
 * `--compare JSON`: natpush runs four times in the lab, A B B A, A with these ReliableChannel
 * defaults overridden in both peers (ladder-peer.mjs NATPUSH_BENCH_CHANNEL), B as built — a
 * paired before/after of a channel limit in one run, on one machine load (an A/A pair run
 * one after the other differed by 7 %: whichever goes first may gain, hence A B B A). E.g. the limits before round 6:
 * `--compare '{"maxInFlightPackets":1024,"recvWindowPackets":1024}'`.
 * Coalescing's worth, for 100-byte bodies: `--sizes 100 --compare '{"mtu":200}'` — a 200-byte
 * MTU holds one such notification per datagram and no ack beside it (one seal and one syscall per
 * message), against the built 1,200 (8 per datagram). Not for 1,000-byte bodies: those would be
 * fragmented, which measures fragmentation, not coalescing.
 */
const COMPARE = process.argv.includes('--compare')
  ? process.argv[process.argv.indexOf('--compare') + 1]
  : undefined;
/**
 * `--baseline DIR`: A B B A as `--compare` does, A being another build of natpush — DIR is a
 * checkout with its own `npm run build` (its test/support/ladder-peer.mjs and dist/); with
 * `--compare` too, A is that build with the override. A before/after of a code change in one lab,
 * on one machine load.
 */
const BASELINE = process.argv.includes('--baseline')
  ? process.argv[process.argv.indexOf('--baseline') + 1]
  : undefined;
/**
 * `--udp-io IO[,IO]`: the natpush peers' UDP input/output (`PeerOptions.udpIo`, through
 * ladder-peer.mjs LADDER_PEER_OPTIONS): `mmsg` (batched recvmmsg/sendmmsg, src/net/mmsg-network.ts)
 * or `dgram` (node:dgram). Two, e.g. `--udp-io mmsg,dgram`: A B B A, A on the first, B on the
 * second (with `--compare`/`--baseline`, A is that too). Default: the Peer's default. Raw UDP
 * stays node:dgram (bench/lib/punch-raw-udp.ts), the baseline of every ratio. Round 16
 * (`--messages 150000 --udp-io mmsg,dgram`, load 6.6–8.6): 1,000 B 0.52 of raw UDP on mmsg
 * against 0.28 on dgram, CPU per message −23 % (sender) / −31 % (receiver), acks −60 %; the
 * Peer's default became mmsg (peer.ts PEER_UDP_IO_DEFAULT).
 */
const UDP_IO = process.argv.includes('--udp-io')
  ? process.argv[process.argv.indexOf('--udp-io') + 1]!.split(',')
  : [];
for (const io of UDP_IO)
  if (io !== 'mmsg' && io !== 'dgram') throw new Error(`--udp-io: mmsg or dgram, got ${io}`);
if (UDP_IO.length > 2) throw new Error('--udp-io: one I/O, or two to compare');
/** Arm A's and arm B's udpIo (undefined: the Peer's default). */
const IO_A = UDP_IO[0];
const IO_B = UDP_IO[1] ?? UDP_IO[0];
const PAIRED = COMPARE !== undefined || BASELINE !== undefined || UDP_IO.length === 2;
/** `--sizes 100,1000`: body sizes to measure (a shorter run measures one). */
const SIZES = process.argv.includes('--sizes')
  ? process.argv[process.argv.indexOf('--sizes') + 1]!.split(',').map(Number)
  : [100, 1000];
/** `--connector`: the channel straight on the punched path, without `Peer.notify` on top. */
const CONNECTOR = process.argv.includes('--connector');
/** `--prof DIR`: each peer process writes a V8 CPU profile there (`node --cpu-prof`). */
const PROF_DIR = process.argv.includes('--prof')
  ? process.argv[process.argv.indexOf('--prof') + 1]
  : undefined;
/**
 * `--perf`: each peer process writes /tmp/perf-PID.map (`node --perf-basic-prof`), so
 * `perf record -g -- node dist/bench/direct-throughput.js --perf` names JavaScript frames. perf
 * samples CPU time only: on a loaded machine V8's wall-clock profile charges a process's time
 * off the CPU to the syscall it was preempted in.
 */
const PERF = process.argv.includes('--perf') ? ['--perf-basic-prof'] : [];
/** `--node-args 'A B'`: more node flags for the two natpush processes (e.g. a V8 heap flag). */
const NODE_ARGS = process.argv.includes('--node-args')
  ? process.argv[process.argv.indexOf('--node-args') + 1]!.split(' ').filter(Boolean)
  : [];
const PROF = [...PERF, ...(PROF_DIR ? ['--cpu-prof', '--cpu-prof-dir', PROF_DIR] : [])];

interface Rx {
  n: number;
  firstAt: number;
  lastAt: number;
  latencies: number[];
  paths?: Record<string, number>;
}

interface Figures {
  perSecond: number;
  /** CPU time (user + system, from /proc) per delivered message: sender, receiver. */
  cpuUsTx: number;
  cpuUsRx: number;
  /** Of which user time (the rest is the kernel's: sockets, the lab's NAT path). */
  userUsTx: number;
  userUsRx: number;
  /** UDP datagrams the sender's and the receiver's namespace sent during the flood. */
  datagramsTx: number;
  datagramsRx: number;
  /** Datagrams the receiver's host dropped for a full socket buffer during the flood. */
  rxDrops: number;
  delivered: number;
  offered: number;
  p50: number;
  p99: number;
  lightP50: number;
  lightP99: number;
  note: string;
}

/** The sender's ReliableChannel counters after a flood (`--connector` only: the driver holds it). */
interface ChannelCounters {
  packetsSent: number;
  retransmissions: number;
  fastRetransmissions: number;
  timeouts: number;
  congestion: { window: number; peak: number; reductions: number };
}

function channelNote(c: ChannelCounters): string {
  return (
    `${c.packetsSent} packets (cumulative), ${c.retransmissions} retransmitted ` +
    `(${c.fastRetransmissions} fast, ${c.timeouts} RTOs), congestion window ${c.congestion.window} ` +
    `(peak ${c.congestion.peak}, ${c.congestion.reductions} reductions)`
  );
}

/**
 * Everything the receiver reports for one phase. Its counter (ladder-peer.mjs `floodRx`, the raw
 * peer's `rx`) reports after 500 ms without an arrival, so a phase that stalls that long mid-way
 * (an RTO, a loaded machine descheduling a process) used to come back as two reports: the bench
 * read the first as the whole flood (under-counting it) and the second as the next phase's. The
 * reports are merged until `expected` arrivals are counted (natpush: every notification was
 * acknowledged, so all of them arrived), or until none came for `quietMs` (raw UDP may lose some).
 */
async function collectRx(
  child: LineChild,
  key: string,
  expected: number,
  quietMs: number,
): Promise<Rx> {
  const all: Rx = { n: 0, firstAt: Infinity, lastAt: -Infinity, latencies: [], paths: {} };
  for (;;) {
    let r: Rx;
    try {
      r = await child.next<Rx>(key, all.n === 0 ? 30_000 : quietMs);
    } catch (e) {
      if (all.n === 0) throw e;
      return all; // nothing more came: raw UDP lost the rest
    }
    all.n += r.n;
    all.firstAt = Math.min(all.firstAt, r.firstAt);
    all.lastAt = Math.max(all.lastAt, r.lastAt);
    for (const l of r.latencies) all.latencies.push(l);
    for (const [p, c] of Object.entries(r.paths ?? {})) all.paths![p] = (all.paths![p] ?? 0) + c;
    if (all.n >= expected) return all;
  }
}

function lat(xs: number[]): { p50: number; p99: number } {
  const s = [...xs].sort((x, y) => x - y);
  return { p50: percentile(s, 50), p99: percentile(s, 99) };
}

/**
 * CPU time (ms) a process has used so far, all its threads (V8's compiler and GC helpers too):
 * user and user + system, /proc/PID/stat fields 14–15. The system part is mostly the kernel's
 * UDP path (a send runs the packet through the lab's veths and NATs in the sender's context).
 */
function cpuMs(pid: number | undefined): { user: number; all: number } {
  if (pid === undefined) return { user: NaN, all: NaN };
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const user = (Number(f[11]) * 1000) / CLOCK_TICKS;
    return { user, all: user + (Number(f[12]) * 1000) / CLOCK_TICKS };
  } catch {
    return { user: NaN, all: NaN };
  }
}
/** USER_HZ: 100 on every Linux this runs on (getconf CLK_TCK). */
const CLOCK_TICKS = 100;

/**
 * A namespace's UDP counters so far (/proc/net/snmp): datagrams sent (`OutDatagrams`) and
 * datagrams its sockets dropped for want of receive buffer (`RcvbufErrors`: a sender that
 * outruns its receiver loses datagrams there, which a reliable channel then pays for in
 * retransmissions and a smaller congestion window).
 */
function udpCounters(pl: PunchLab, host: string): { out: number; rcvbufErrors: number } {
  const snmp = execFileSync(
    'ip',
    ['netns', 'exec', pl.lab.namespace(host), 'cat', '/proc/net/snmp'],
    {
      encoding: 'utf8',
    },
  );
  const lines = snmp.split('\n').filter((l) => l.startsWith('Udp:'));
  const names = lines[0]!.split(/\s+/);
  const values = lines[1]!.split(/\s+/);
  return {
    out: Number(values[names.indexOf('OutDatagrams')]),
    rcvbufErrors: Number(values[names.indexOf('RcvbufErrors')]),
  };
}

/**
 * Counters around one measured phase: CPU of both processes, datagrams out of both hosts,
 * datagrams the receiving host dropped for a full socket buffer.
 */
function meter(pl: PunchLab, a: LineChild, b: LineChild) {
  const ua = udpCounters(pl, 'a');
  const ub = udpCounters(pl, 'b');
  const start = { ca: cpuMs(a.child.pid), cb: cpuMs(b.child.pid) };
  return (delivered: number) => {
    const ea = udpCounters(pl, 'a');
    const eb = udpCounters(pl, 'b');
    const ca = cpuMs(a.child.pid);
    const cb = cpuMs(b.child.pid);
    return {
      cpuUsTx: ((ca.all - start.ca.all) * 1000) / delivered,
      cpuUsRx: ((cb.all - start.cb.all) * 1000) / delivered,
      userUsTx: ((ca.user - start.ca.user) * 1000) / delivered,
      userUsRx: ((cb.user - start.cb.user) * 1000) / delivered,
      datagramsTx: ea.out - ua.out,
      datagramsRx: eb.out - ub.out,
      rxDrops: eb.rcvbufErrors - ub.rcvbufErrors,
    };
  };
}

/** LADDER_PEER_OPTIONS for a natpush process: the caller's, with `udpIo` when one is asked. */
function peerOptions(udpIo: string | undefined): string | undefined {
  const given = process.env.LADDER_PEER_OPTIONS;
  if (udpIo === undefined) return given;
  return JSON.stringify({ ...(given ? (JSON.parse(given) as object) : {}), udpIo });
}

function spawn(
  pl: PunchLab,
  host: string,
  script: string,
  args: string[],
  channel?: string,
  udpIo?: string,
): LineChild {
  const options = script === RAW_PEER ? undefined : peerOptions(udpIo);
  return lineChild(
    pl.lab.spawn(
      host,
      process.execPath,
      [...PROF, ...(script === RAW_PEER ? [] : NODE_ARGS), script, ...args],
      {
        stdio: ['pipe', 'pipe', 'inherit'],
        env: {
          ...process.env,
          NATPUSH_BENCH_MODE: CONNECTOR ? 'connector' : '',
          ...(channel ? { NATPUSH_BENCH_CHANNEL: channel } : {}),
          ...(options ? { LADDER_PEER_OPTIONS: options } : {}),
        },
      },
    ),
    `${host} ${script.split('/').pop()}`,
  );
}

async function natpush(
  pl: PunchLab,
  channel?: string,
  peerScript = LADDER_PEER,
  udpIo?: string,
): Promise<Record<number, Figures>> {
  const a = spawn(pl, 'a', peerScript, [pl.serverUrl], channel, udpIo);
  const b = spawn(pl, 'b', peerScript, [pl.serverUrl], channel, udpIo);
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
    console.log(
      `natpush (${rb.mode} mode, udp-io ${udpIo ?? 'default'}): direct path up (sender pid ${a.child.pid}, receiver pid ${b.child.pid})`,
    );
    for (const size of SIZES) {
      // Warm-up, not measured: the first thousand notifications pay for JIT compilation.
      a.send({ flood: { to: rb.id, n: WARMUP, size, window: WINDOW } });
      const warm = await a.next<{ n: number; errors: number }>('flooded', 120_000);
      await collectRx(b, 'floodRx', warm.n - warm.errors, 2_000);
      const m = meter(pl, a, b);
      a.send({ flood: { to: rb.id, n: MESSAGES, size, window: WINDOW } });
      const sent = await a.next<{
        n: number;
        ms: number;
        errors: number;
        paths: object;
        channel?: ChannelCounters;
      }>('flooded', 120_000);
      const rx = await collectRx(b, 'floodRx', sent.n - sent.errors, 2_000);
      const counters = m(rx.n);
      a.send({ flood: { to: rb.id, n: LIGHT, size, window: 1 } });
      const lightSent = await a.next<{ n: number; errors: number }>('flooded', 120_000);
      const light = await collectRx(b, 'floodRx', lightSent.n - lightSent.errors, 2_000);
      const l = lat(rx.latencies);
      const ll = lat(light.latencies);
      out[size] = {
        ...counters,
        perSecond: rx.n / (sent.ms / 1000),
        delivered: rx.n,
        offered: MESSAGES,
        p50: l.p50,
        p99: l.p99,
        lightP50: ll.p50,
        lightP99: ll.p99,
        note:
          `udp-io ${udpIo ?? 'default'}, all acked in ${fmt(sent.ms)} ms, ${sent.errors} errors, sender paths ${JSON.stringify(sent.paths)}, ` +
          `receiver paths ${JSON.stringify(rx.paths ?? {})}` +
          (sent.channel ? `, sender's channel ${channelNote(sent.channel)}` : ''),
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
    await collectRx(b, 'rx', 4000, 2_000);
    for (const size of SIZES) {
      const n = MESSAGES * 4;
      const m = meter(pl, a, b);
      a.send({ blast: { n, size, rate: 0 } });
      await a.next('blasted', 120_000);
      const rx = await collectRx(b, 'rx', n, 2_000);
      const counters = m(rx.n);
      a.send({ blast: { n: LIGHT, size, rate: 500 } });
      await a.next('blasted', 120_000);
      const light = await collectRx(b, 'rx', LIGHT, 2_000);
      const l = lat(rx.latencies);
      const ll = lat(light.latencies);
      const span = Math.max(1, rx.lastAt - rx.firstAt);
      out[size] = {
        ...counters,
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
  if (process.argv.includes('--help')) {
    console.log(
      'node dist/bench/direct-throughput.js [--messages 20000] [--light 500] [--window 4000]\n' +
        '  [--sizes 100,1000] [--compare \'{"maxInFlightPackets":1024,…}\'] [--baseline DIR] [--warmup 5000]\n' +
        "  [--node-args '--min-semi-space-size=16'] [--udp-io mmsg|dgram|mmsg,dgram] [--connector]\n" +
        '  [--prof DIR] [--perf]\n' +
        'Root: builds a netsim lab (see the header of bench/direct-throughput.ts).',
    );
    return;
  }
  console.log(
    `direct-throughput: ${MESSAGES} notifications per size (window ${WINDOW}), ${LIGHT} one at a time; raw UDP ${MESSAGES * 4} datagrams`,
  );
  const d = RELIABLE_DEFAULTS;
  console.log(
    `channel (defaults): congestion window ${d.initialWindowPackets} -> ${d.maxInFlightPackets} packets (AIMD), ` +
      `receiver window ${d.recvWindowPackets}, ack every ${d.ackEveryPackets} packets / ${d.ackEveryDatagrams} datagrams / ${d.ackDelayMs} ms, ` +
      `notifications coalesced into datagrams of up to ${d.mtu} bytes`,
  );
  console.log(`load before: ${load()}`);
  const pl = await createPunchLab(0);
  try {
    // --compare: A B B A (A = the override, B = as built), so that neither gains from going
    // first or from the load drifting; the ratios use each one's mean rate.
    const runs: [string, Record<number, Figures>][] = [];
    const baselinePeer = BASELINE
      ? path.resolve(BASELINE, 'test/support/ladder-peer.mjs')
      : LADDER_PEER;
    for (const which of PAIRED ? ['A', 'B', 'B', 'A'] : ['B']) {
      runs.push([
        which === 'A' ? `compare${runs.length + 1}` : `natpush${runs.length + 1}`,
        which === 'A'
          ? await natpush(pl, COMPARE, baselinePeer, IO_A)
          : await natpush(pl, undefined, LADDER_PEER, IO_B),
      ]);
      console.log(`load: ${load()}`);
    }
    const mean = (
      prefix: string,
      size: number,
      field: 'perSecond' | 'cpuUsTx' | 'cpuUsRx' = 'perSecond',
    ): number => {
      const xs = runs.filter(([n]) => n.startsWith(prefix)).map(([, f]) => f[size]![field]);
      return xs.reduce((a, b) => a + b, 0) / xs.length;
    };
    const raw = await rawUdp(pl);
    console.log(
      `\n  ${'size'.padStart(5)} ${'path'.padEnd(8)} ${'msg/s'.padStart(8)} ${'Mbit/s'.padStart(7)} ${'delivered'.padStart(13)} ${'p50 ms'.padStart(7)} ${'p99 ms'.padStart(7)} ${'light p50'.padStart(9)} ${'light p99'.padStart(9)} ${'µs tx'.padStart(7)} ${'usr tx'.padStart(6)} ${'µs rx'.padStart(7)} ${'usr rx'.padStart(6)} ${'msg/dg'.padStart(6)} ${'dg back'.padStart(7)} ${'rx drop'.padStart(7)}`,
    );
    for (const size of SIZES) {
      for (const [name, f] of [
        ...runs.map(([n, r]) => [PAIRED ? n : 'natpush', r[size]!] as const),
        ['raw UDP', raw[size]!] as const,
      ]) {
        console.log(
          `  ${String(size).padStart(5)} ${name.padEnd(8)} ${fmt(f.perSecond).padStart(8)} ${fmt((f.perSecond * size * 8) / 1e6, 1).padStart(7)} ${`${f.delivered}/${f.offered}`.padStart(13)} ${fmt(f.p50, 2).padStart(7)} ${fmt(f.p99, 2).padStart(7)} ${fmt(f.lightP50, 2).padStart(9)} ${fmt(f.lightP99, 2).padStart(9)} ${fmt(f.cpuUsTx, 1).padStart(7)} ${fmt(f.userUsTx, 1).padStart(6)} ${fmt(f.cpuUsRx, 1).padStart(7)} ${fmt(f.userUsRx, 1).padStart(6)} ${fmt(f.delivered / Math.max(1, f.datagramsTx), 1).padStart(6)} ${String(f.datagramsRx).padStart(7)} ${String(f.rxDrops).padStart(7)}  ${f.note}`,
        );
      }
      const r = raw[size]!;
      const what = [
        BASELINE ? `build ${BASELINE}` : '',
        COMPARE ?? '',
        UDP_IO.length === 2 ? `udp-io ${IO_A} against ${IO_B}` : '',
      ]
        .filter(Boolean)
        .join(' + ');
      console.log(
        `  ratio natpush/raw UDP ${size} B: ${fmt(mean('natpush', size) / r.perSecond, 2)} (msg/s; target ≥ 0.5); ` +
          `CPU per message raw/natpush: sender ${fmt(r.cpuUsTx / mean('natpush', size, 'cpuUsTx'), 2)}, ` +
          `receiver ${fmt(r.cpuUsRx / mean('natpush', size, 'cpuUsRx'), 2)}` +
          (PAIRED
            ? `; compare (${what}): ${fmt(mean('compare', size) / r.perSecond, 2)}; ` +
              `built/compare ${fmt(mean('natpush', size) / mean('compare', size), 2)} msg/s, ` +
              `CPU µs tx ${fmt(mean('natpush', size, 'cpuUsTx'), 1)} vs ${fmt(mean('compare', size, 'cpuUsTx'), 1)}, ` +
              `rx ${fmt(mean('natpush', size, 'cpuUsRx'), 1)} vs ${fmt(mean('compare', size, 'cpuUsRx'), 1)} (means of 2)`
            : ''),
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
