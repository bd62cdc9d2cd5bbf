/**
 * Scale-out with Redis (issue 12): acked notifications per second and p99 through 1, 2 and 3
 * signaling nodes sharing one redis-server, next to one node on SQLite and a bare `ws` relay in
 * the same run; what Redis costs per notification (commands and bytes, from INFO before and
 * after); and server memory per idle authenticated peer on a Redis node vs a SQLite node.
 *
 * With n > 1 nodes every pair's sender and receiver are on different nodes, so each
 * notification and its ack cross Redis (the worst case; a load balancer that spread peers at
 * random would make 1/n of them local). Redis runs with AOF `appendfsync always` (what the 202
 * promises, store/redis-store.ts). All of it shares this machine's cores with the generators:
 * the figures say what the software costs, not what n machines would do (see the README).
 *
 * Each run also prints the server's CPU per acked notification (user + system of the server
 * processes, /proc), which moves far less than the rate when other jobs share the cores.
 * `--only=sqlite,ws` runs just the single-node SQLite vs bare ws comparison; `--rounds=N`
 * alternates those two N times, each pair a ratio of its own. Its two sides are driven by two
 * different generators (cluster-clients.ts, throughput-clients.ts) at one fixed load, so their
 * ratio says as much about the generators and the machine as about the servers: issue 12's
 * ≥ 0.6× figure comes from bench/signaling-vs-ws.ts (one generator for both, each side's limit
 * found in the same run, rounds alternated, median).
 * `--cpu-prof=DIR` has the serve nodes write CPU profiles (.cpuprofile) into DIR;
 * `--early-ack-ms=N` sets the SQLite node's early-ack wait (serve --early-ack-ms; default 10),
 * and its line says what share of the acked notifications were never written (acks after the
 * generators' window count too: it can read a little over 100 %).
 *
 * Reading a profile: V8's `--cpu-prof` samples the thread in wall time, so time a `writev`
 * spends preempted (it wakes a generator, which takes the core on a loaded machine) is charged
 * to it: 25–30 % of serve's samples there, while `perf record -p <node pid>` finds the kernel at
 * ~10 % of the process's CPU, every syscall included, and serve makes 0.3 writev per
 * notification (perf stat) against 2.2 for the bare `ws` relay. Where the CPU goes is JS:
 * JSON encode/decode, string hashing for map keys, zod, GC.
 *
 * Run: `npm run build && node dist/bench/cluster-throughput.js [pairs] [window] [seconds] [idle peers] [--only=sqlite,redis,ws] [--rounds=N]`
 */
import { execFileSync } from 'node:child_process';
import { Redis } from 'ioredis';
import { helper, percentile, type Helper } from './lib/child.js';
import { startRedis, type TestRedis } from './lib/cluster-redis.js';
import { cpuMs } from './lib/proc-cpu.js';

const flags = new Map(
  process.argv
    .slice(2)
    .filter((a) => a.startsWith('--'))
    .map((a) => [a.slice(2).split('=')[0]!, a.split('=')[1] ?? ''] as const),
);
const positional = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const pairs = Number(positional[0] ?? 50);
const window = Number(positional[1] ?? 8);
const seconds = Number(positional[2] ?? 3);
const idlePeers = Number(positional[3] ?? 500);
const only = new Set((flags.get('only') || 'sqlite,redis,ws').split(','));
const rounds = Math.max(1, Number(flags.get('rounds') || 1));
/** `--early-ack-ms=N`: the SQLite node's TIMING.earlyAckMs (serve --early-ack-ms). */
const earlyAck = flags.get('early-ack-ms') ? [flags.get('early-ack-ms')!] : [];
const GENERATORS = 2;
/** `--cpu-prof=DIR`: the serve nodes write V8 CPU profiles there (node --cpu-prof). */
const profile = flags.get('cpu-prof')
  ? ['--cpu-prof', `--cpu-prof-dir=${flags.get('cpu-prof')}`]
  : [];

interface GenResult {
  done: number;
  elapsed: number;
  latencies: number[];
  total: number;
}
interface Mem {
  rss: number;
  heapUsed: number;
}
interface Figures {
  rate: number;
  p50: number;
  p99: number;
  n: number;
  total: number;
  /** Server CPU (user + system, all its processes) per acked notification, µs. */
  cpuUs: number;
}

async function nodesOn(
  target: string,
  count: number,
  extra: string[] = [],
): Promise<{ hs: Helper[]; ports: number[] }> {
  const hs = Array.from({ length: count }, () =>
    helper('./cluster-node-child.js', [target, ...extra], ['--expose-gc', ...profile]),
  );
  const ports = (await Promise.all(hs.map((h) => h.next<{ port: number }>()))).map((x) => x.port);
  return { hs, ports };
}

async function load(ports: number[], servers: Helper[]): Promise<Figures> {
  const cpu = () => servers.reduce((sum, h) => sum + cpuMs(h.child.pid!), 0);
  const cpu0 = cpu();
  const per = Math.ceil(pairs / GENERATORS);
  const gens = Array.from({ length: GENERATORS }, (_, g) =>
    helper('./cluster-clients.js', [
      ports.join(','),
      String(per),
      String(window),
      '1000',
      String(seconds * 1000),
      String(g * per),
    ]),
  );
  const rs = await Promise.all(gens.map((g) => g.next<GenResult>()));
  const cpu1 = cpu();
  await Promise.all(gens.map((g) => g.exited));
  return figures(rs, cpu1 - cpu0);
}

function figures(rs: GenResult[], cpu: number): Figures {
  const sorted = rs.flatMap((r) => r.latencies).sort((x, y) => x - y);
  const total = rs.reduce((s, r) => s + r.total, 0);
  return {
    rate: rs.reduce((s, r) => s + r.done / (r.elapsed / 1000), 0),
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    n: sorted.length,
    total,
    cpuUs: (cpu * 1000) / Math.max(1, total),
  };
}

/** The bare `ws` relay: same pairs and window, raw frames routed by id, no schema/auth/disk. */
async function bareWs(): Promise<Figures> {
  const base = helper('./signaling-server-child.js', ['baseline']);
  const { port } = await base.next<{ port: number }>();
  const cpu0 = cpuMs(base.child.pid!);
  const per = String(Math.ceil(pairs / GENERATORS));
  const gens = Array.from({ length: GENERATORS }, () =>
    helper('./throughput-clients.js', [
      'baseline',
      String(port),
      per,
      String(window),
      '1000',
      String(seconds * 1000),
    ]),
  );
  const rs = await Promise.all(gens.map((g) => g.next<GenResult>()));
  const cpu1 = cpuMs(base.child.pid!);
  await Promise.all(gens.map((g) => g.exited));
  await base.stop();
  return figures(rs, cpu1 - cpu0);
}

async function sqliteNode(): Promise<Figures & { unwritten: number }> {
  const { hs, ports } = await nodesOn('sqlite', 1, earlyAck);
  const f = await load(ports, hs);
  const { unwritten } = await hs[0]!.ask<{ unwritten: number }>({ cmd: 'stats' });
  await Promise.all(hs.map((h) => h.stop()));
  return { ...f, unwritten: unwritten / Math.max(1, f.total) };
}

/** Redis commands executed and bytes in/out so far (INFO commandstats + stats). */
async function redisCounters(r: Redis): Promise<{ calls: Map<string, number>; bytes: number }> {
  const calls = new Map<string, number>();
  for (const m of (await r.info('commandstats')).matchAll(/cmdstat_(\w+):calls=(\d+)/g))
    calls.set(m[1]!, Number(m[2]));
  const s = await r.info('stats');
  const inB = Number(/total_net_input_bytes:(\d+)/.exec(s)?.[1] ?? 0);
  const outB = Number(/total_net_output_bytes:(\d+)/.exec(s)?.[1] ?? 0);
  return { calls, bytes: inB + outB };
}

async function onRedis(redis: TestRedis, count: number): Promise<Figures & { perN: string }> {
  const r = redis.client();
  await r.flushall();
  const { hs, ports } = await nodesOn(redis.url, count);
  const before = await redisCounters(r);
  const f = await load(ports, hs);
  const after = await redisCounters(r);
  await Promise.all(hs.map((h) => h.stop()));
  const diff: string[] = [];
  let calls = 0;
  for (const [k, v] of after.calls) {
    const d = v - (before.calls.get(k) ?? 0);
    if (d <= 0 || k === 'info') continue;
    calls += d;
    diff.push(`${k} ${(d / f.total).toFixed(3)}`);
  }
  const perN =
    `${(calls / f.total).toFixed(2)} commands/notification (${diff.join(', ')}), ` +
    `${Math.round((after.bytes - before.bytes) / f.total)} bytes/notification through Redis`;
  return { ...f, perN };
}

async function idleMemory(target: string): Promise<number> {
  const { hs, ports } = await nodesOn(target, 1);
  const h = hs[0]!;
  const before = await h.ask<Mem>({ cmd: 'mem' });
  const gen = helper('./idle-clients.js', [
    'natpush',
    String(ports[0]),
    String(idlePeers),
    '127.0.0.1',
  ]);
  const res = await gen.next<{ connected: number }>();
  await new Promise((r) => setTimeout(r, 500));
  const after = await h.ask<Mem>({ cmd: 'mem' });
  await gen.stop();
  await h.stop();
  return (after.rss - before.rss) / Math.max(1, res.connected);
}

const uptime = () => execFileSync('uptime', { encoding: 'utf8' }).trim();
const fmt = (r: Figures) =>
  `${Math.round(r.rate)} notifications/s (${r.n} acked), p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms, server CPU ${r.cpuUs.toFixed(1)} µs/notification`;
const ratio = (x: Figures, b: Figures) =>
  `${(x.rate / b.rate).toFixed(2)}x the rate (target ≥ 0.6x: ${x.rate >= 0.6 * b.rate ? 'met' : 'NOT met'}), ` +
  `${(x.cpuUs / b.cpuUs).toFixed(2)}x the server CPU per notification`;

console.log(
  `cluster-throughput: ${pairs} sender→receiver pairs, ${window} outstanding per sender, ${seconds} s each, ${GENERATORS} generator processes`,
);
console.log(`load before: ${uptime()}`);
// The single-node comparison first, the two alternating: each SQLite run's ratio is to the bare
// ws run right after it, so both saw about the same machine.
let sqlite: (Figures & { unwritten: number }) | undefined;
let b: Figures | undefined;
for (let i = 0; i < rounds && (only.has('sqlite') || only.has('ws')); i++) {
  if (only.has('sqlite')) {
    sqlite = await sqliteNode();
    const never = `${(100 * sqlite.unwritten).toFixed(0)} % never written`;
    console.log(`1 node, SQLite mailbox (embedded default):    ${fmt(sqlite)}, ${never}`);
  }
  if (only.has('ws')) {
    b = await bareWs();
    console.log(`bare ws relay baseline:                        ${fmt(b)}`);
  }
  if (sqlite && b) console.log(`    SQLite node vs bare ws: ${ratio(sqlite, b)}   (${uptime()})`);
}
if (only.has('redis')) {
  const redis = await startRedis();
  try {
    const redisRuns: (Figures & { perN: string })[] = [];
    for (const n of [1, 2, 3]) {
      const r = await onRedis(redis, n);
      redisRuns.push(r);
      console.log(
        `${n} node${n > 1 ? 's' : ' '} on Redis (AOF always)${n > 1 ? ', all cross-node' : '              '}: ${fmt(r)}`,
      );
      console.log(`    Redis: ${r.perN}`);
    }
    if (b) {
      console.log(
        `vs bare ws: Redis ${redisRuns.map((r, i) => `${i + 1} node(s) ${(r.rate / b.rate).toFixed(2)}x`).join(', ')}`,
      );
    }
    if (idlePeers > 0) {
      const mSqlite = await idleMemory('sqlite');
      const mRedis = await idleMemory(redis.url);
      console.log(
        `idle memory per authenticated peer (${idlePeers} peers): SQLite node ${(mSqlite / 1024).toFixed(1)} KiB, Redis node ${(mRedis / 1024).toFixed(1)} KiB`,
      );
    }
  } finally {
    await redis.stop();
  }
}
console.log(`load after: ${uptime()}`);
