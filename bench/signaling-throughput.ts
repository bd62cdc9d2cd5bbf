/**
 * Notifications per second end to end through one natpush signaling node, with acks: a sender
 * peer's `notify()` resolves only when the recipient peer has taken the notification and its ack
 * has come back through the server (`delivered`), after the notification was fsynced to the
 * SQLite mailbox. p50/p99 are of that whole round trip. Compared in the same run with a bare
 * `ws` relay doing the same routing without schema, auth or durability.
 * Target (issue 4): 25,000/s with p99 < 50 ms on this 2-core machine, generator included.
 *
 * The natpush server runs twice: with the durable SQLite mailbox (`natpush serve`'s default; every
 * notification fsynced before it is accepted) and with the memory store.
 *
 * The peers are `direct: false`: every notification goes through the server (a direct path would
 * bypass it, and since round 2 warm peers punch at login). The path each `notify()` reported is
 * counted and printed: anything but `server-routed` is a bench bug. Each run also prints the
 * server's CPU per acked notification (/proc), steadier than the rate on a shared machine. The
 * generators here run the peer library (sealing, dedupe); bench/cluster-throughput.ts drives the
 * protocol by hand and so measures the server alone.
 *
 * Its ratio to bare ws is not the server's: the natpush generators run the peer library (sealing
 * every notification) while the baseline's speak bare frames, so the generator is the ceiling on
 * the natpush side. Server against server: bench/signaling-vs-ws.ts.
 *
 * Run: `npm run build && node dist/bench/signaling-throughput.js [pairs] [window] [seconds] [generators]`
 */
import { execFileSync } from 'node:child_process';
import { helper, percentile } from './lib/child.js';
import { cpuMs } from './lib/proc-cpu.js';

const pairs = Number(process.argv[2] ?? 50);
const window = Number(process.argv[3] ?? 8);
const seconds = Number(process.argv[4] ?? 6);
/** Generator processes: one alone saturates a core before the server does. */
const generators = Number(process.argv[5] ?? 2);

interface Result {
  done: number;
  elapsed: number;
  latencies: number[];
  total: number;
  paths?: Record<string, number>;
}

interface Figures {
  rate: number;
  p50: number;
  p99: number;
  n: number;
  cpuUs: number;
  paths: Record<string, number>;
}

async function run(mode: 'natpush' | 'baseline', store = 'sqlite'): Promise<Figures> {
  const server = helper('./signaling-server-child.js', [mode, store]);
  const { port } = await server.next<{ port: number }>();
  const cpu0 = cpuMs(server.child.pid!);
  const per = String(Math.ceil(pairs / generators));
  const args = [mode, String(port), per, String(window), '1000', String(seconds * 1000)];
  const gens = Array.from({ length: generators }, () => helper('./throughput-clients.js', args));
  const rs = await Promise.all(gens.map((g) => g.next<Result>()));
  const cpu1 = cpuMs(server.child.pid!);
  await Promise.all(gens.map((g) => g.exited));
  await server.stop();
  const sorted = rs.flatMap((r) => r.latencies).sort((x, y) => x - y);
  const rate = rs.reduce((sum, r) => sum + r.done / (r.elapsed / 1000), 0);
  const total = rs.reduce((sum, r) => sum + r.total, 0);
  const paths: Record<string, number> = {};
  for (const r of rs)
    for (const [k, v] of Object.entries(r.paths ?? {})) paths[k] = (paths[k] ?? 0) + v;
  return {
    rate,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    n: sorted.length,
    cpuUs: ((cpu1 - cpu0) * 1000) / Math.max(1, total),
    paths,
  };
}

const load = () => execFileSync('uptime', { encoding: 'utf8' }).trim();
console.log(
  `signaling-throughput: ${pairs} sender→receiver pairs, ${window} outstanding per sender, ${seconds} s each`,
);
console.log(`load before: ${load()}`);
const n = await run('natpush', 'sqlite');
const m = await run('natpush', 'memory');
const b = await run('baseline');
const fmt = (r: Figures) =>
  `${Math.round(r.rate)} notifications/s (${r.n} acked), p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms, server CPU ${r.cpuUs.toFixed(1)} µs/notification` +
  (Object.keys(r.paths).length > 0 ? `, paths ${JSON.stringify(r.paths)}` : '');
console.log(`natpush, SQLite mailbox (fsynced before accepted): ${fmt(n)}`);
console.log(`natpush, memory mailbox:                          ${fmt(m)}`);
console.log(`bare ws relay baseline (no schema/auth/disk):     ${fmt(b)}`);
console.log(
  `throughput vs bare ws: SQLite ${(n.rate / b.rate).toFixed(2)}x, memory ${(m.rate / b.rate).toFixed(2)}x`,
);
const met = (r: typeof n) => (r.rate >= 25_000 && r.p99 < 50 ? 'met' : 'NOT met');
console.log(`target 25,000/s with p99 < 50 ms: SQLite ${met(n)}, memory ${met(m)}`);
console.log(`load after: ${load()}`);
