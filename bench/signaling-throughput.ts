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
 * Run: `npm run build && node dist/bench/signaling-throughput.js [pairs] [window] [seconds] [generators]`
 */
import { execFileSync } from 'node:child_process';
import { helper, percentile } from './lib/child.js';

const pairs = Number(process.argv[2] ?? 50);
const window = Number(process.argv[3] ?? 8);
const seconds = Number(process.argv[4] ?? 6);
/** Generator processes: one alone saturates a core before the server does. */
const generators = Number(process.argv[5] ?? 2);

interface Result {
  done: number;
  elapsed: number;
  latencies: number[];
}

async function run(
  mode: 'natpush' | 'baseline',
  store = 'sqlite',
): Promise<{ rate: number; p50: number; p99: number; n: number }> {
  const server = helper('./signaling-server-child.js', [mode, store]);
  const { port } = await server.next<{ port: number }>();
  const per = String(Math.ceil(pairs / generators));
  const args = [mode, String(port), per, String(window), '1000', String(seconds * 1000)];
  const gens = Array.from({ length: generators }, () => helper('./throughput-clients.js', args));
  const rs = await Promise.all(gens.map((g) => g.next<Result>()));
  await Promise.all(gens.map((g) => g.exited));
  await server.stop();
  const sorted = rs.flatMap((r) => r.latencies).sort((x, y) => x - y);
  const rate = rs.reduce((sum, r) => sum + r.done / (r.elapsed / 1000), 0);
  return { rate, p50: percentile(sorted, 50), p99: percentile(sorted, 99), n: sorted.length };
}

const load = () => execFileSync('uptime', { encoding: 'utf8' }).trim();
console.log(
  `signaling-throughput: ${pairs} sender→receiver pairs, ${window} outstanding per sender, ${seconds} s each`,
);
console.log(`load before: ${load()}`);
const n = await run('natpush', 'sqlite');
const m = await run('natpush', 'memory');
const b = await run('baseline');
const fmt = (r: typeof n) =>
  `${Math.round(r.rate)} notifications/s (${r.n} acked), p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms`;
console.log(`natpush, SQLite mailbox (fsynced before accepted): ${fmt(n)}`);
console.log(`natpush, memory mailbox:                          ${fmt(m)}`);
console.log(`bare ws relay baseline (no schema/auth/disk):     ${fmt(b)}`);
console.log(
  `throughput vs bare ws: SQLite ${(n.rate / b.rate).toFixed(2)}x, memory ${(m.rate / b.rate).toFixed(2)}x`,
);
const met = (r: typeof n) => (r.rate >= 25_000 && r.p99 < 50 ? 'met' : 'NOT met');
console.log(`target 25,000/s with p99 < 50 ms: SQLite ${met(n)}, memory ${met(m)}`);
console.log(`load after: ${load()}`);
