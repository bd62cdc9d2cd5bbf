/**
 * Issue 12's comparison, made to be fair: acked notifications per second through ONE
 * `natpush serve` node on its embedded default (the SQLite mailbox, `earlyAckMs` as serve
 * defaults it) against a bare `ws` relay that routes the same frames by id with no schema, auth
 * or durability — each at its own limit, found in the same run.
 *
 * - One load generator for both (signaling-vs-ws-clients.ts: raw RFC 6455 from templates), so
 *   neither side is measured through a heavier client than the other.
 * - The generator is not the ceiling: it costs less per notification than either server (see
 *   signaling-vs-ws-clients.ts), and each step prints the server's and the generators' CPU
 *   (share of one core, /proc) so a run shows which one ran out. A server short of ~90 % of a
 *   core was not at its limit: on a loaded machine (load average well over the 2 cores) neither
 *   side reaches it and the rate ratio is the machine's; read the CPU ratio then.
 * - On 2 cores the generators share the machine with the server: serve's coalesced writes also
 *   make the generators' side cheaper (fewer reads), which the rate ratio includes and the
 *   server-CPU ratio does not.
 * - Each side's limit: the senders' window is raised step by step (`--windows`) on the same
 *   connections; the side's figure is its best step. p99 is of that step (at the limit it is
 *   mostly queueing: see the lower steps for latency under less load).
 * - Several rounds, alternated A B B A (round i starts with natpush when i is even), each round
 *   a ratio of its own; the median ratio is the figure. Server CPU per acked notification
 *   (user + system) is printed too: it moves far less than the rate when other jobs share the
 *   cores, and its ratio is what the rates would be if both servers had a core to themselves.
 *
 * Run: `npm run build && node dist/bench/signaling-vs-ws.js [--pairs=50] [--windows=2,8,32]
 *       [--seconds=2] [--rounds=4] [--generators=2] [--early-ack-ms=N] [--cpu-prof=DIR]`
 *
 * The written path (issue 12): `--early-ack-ms=0 --windows=8,32,64,128` — every notification
 * goes through SQLite (insert, fsync, read back, delete) — and, fast path on,
 * `--windows=64,128,256`, where what exceeds serve's delivery window (64) is written.
 */
import { execFileSync } from 'node:child_process';
import { helper, percentile, type Helper } from './lib/child.js';
import { cpuMs } from './lib/proc-cpu.js';

const flags = new Map(
  process.argv
    .slice(2)
    .filter((a) => a.startsWith('--'))
    .map((a) => [a.slice(2).split('=')[0]!, a.split('=')[1] ?? ''] as const),
);
const pairs = Number(flags.get('pairs') || 50);
const windows = (flags.get('windows') || '2,8,32').split(',').map(Number);
const seconds = Number(flags.get('seconds') || 2);
const rounds = Number(flags.get('rounds') || 4);
const generators = Number(flags.get('generators') || 2);
/**
 * serve's --early-ack-ms (absent: serve's default). 0 turns the fast path off: every
 * notification is then written, fsynced, read back and deleted (the written path), as it is
 * for a slow or offline recipient; windows above LIMITS.deliveryWindow (64) force part of the
 * traffic onto that path with the fast path on.
 */
const earlyAckMs = flags.get('early-ack-ms');
const profile = flags.get('cpu-prof')
  ? ['--cpu-prof', `--cpu-prof-dir=${flags.get('cpu-prof')}`]
  : [];

type Side = 'natpush' | 'baseline';
interface Step {
  w: number;
  rate: number;
  p50: number;
  p99: number;
  /** CPU as a share of one core over the step: the server, and the generators together. */
  serverCore: number;
  genCore: number;
  /** Server CPU per acked notification, µs. */
  cpuUs: number;
  errors: number;
}
interface GenReport {
  done: number;
  elapsed: number;
  latencies: number[];
  errors: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function startServer(side: Side): Promise<Helper> {
  // One serve node exactly as cluster-throughput.ts starts it (SQLite, serve's default timing);
  // the bare relay from signaling-server-child.ts.
  const h =
    side === 'natpush'
      ? helper(
          './cluster-node-child.js',
          ['sqlite', ...(earlyAckMs !== undefined ? [earlyAckMs] : [])],
          profile,
        )
      : helper('./signaling-server-child.js', ['baseline']);
  return h;
}

async function runSide(side: Side): Promise<Step[]> {
  const server = await startServer(side);
  const { port } = await server.next<{ port: number }>();
  const per = Math.ceil(pairs / generators);
  const gens = Array.from({ length: generators }, (_, g) =>
    helper('../signaling-vs-ws-clients.js', [side, String(port), String(per), String(g * per)]),
  );
  await Promise.all(gens.map((g) => g.next()));
  const all = () => [server, ...gens].map((h) => cpuMs(h.child.pid!));
  const steps: Step[] = [];
  try {
    for (const w of windows) {
      await Promise.all(gens.map((g) => g.ask({ cmd: 'window', w })));
      await sleep(500); // warm: the pipeline fills, the JIT settles
      const c0 = all();
      const t0 = performance.now();
      await Promise.all(gens.map((g) => g.ask({ cmd: 'measure' })));
      await sleep(seconds * 1000);
      const rs = await Promise.all(gens.map((g) => g.ask<GenReport>({ cmd: 'report' })));
      const wall = performance.now() - t0;
      const c1 = all();
      const sorted = rs.flatMap((r) => r.latencies).sort((x, y) => x - y);
      const n = sorted.length;
      const serverCpu = c1[0]! - c0[0]!;
      const genCpu = c1.slice(1).reduce((s, v, i) => s + v - c0[i + 1]!, 0);
      steps.push({
        w,
        rate: rs.reduce((s, r) => s + r.done / (r.elapsed / 1000), 0),
        p50: percentile(sorted, 50),
        p99: percentile(sorted, 99),
        serverCore: serverCpu / wall,
        genCore: genCpu / wall,
        cpuUs: (serverCpu * 1000) / Math.max(1, n),
        errors: rs.reduce((s, r) => s + r.errors, 0),
      });
    }
  } finally {
    await Promise.all(gens.map((g) => g.stop()));
    await server.stop();
  }
  return steps;
}

const best = (steps: Step[]) => steps.reduce((a, b) => (b.rate > a.rate ? b : a));
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const uptime = () => execFileSync('uptime', { encoding: 'utf8' }).trim();
const pct = (x: number) => `${Math.round(100 * x)} %`;
const fmtStep = (s: Step) =>
  `w=${String(s.w).padStart(3)}: ${String(Math.round(s.rate)).padStart(6)}/s, p50 ${s.p50.toFixed(1)} ms, ` +
  `p99 ${s.p99.toFixed(1)} ms, server ${pct(s.serverCore)} of a core (${s.cpuUs.toFixed(1)} µs/notification), ` +
  `generators ${pct(s.genCore)}` +
  (s.errors ? `, ${s.errors} error frames` : '');
const NAME: Record<Side, string> = {
  natpush: 'natpush serve, SQLite',
  baseline: 'bare ws relay        ',
};

console.log(
  `signaling-vs-ws: ${pairs} pairs, windows ${windows.join(',')} per sender, ${seconds} s per step, ` +
    `${rounds} rounds A B B A, ${generators} generator processes (one generator for both sides)` +
    `, serve early-ack-ms ${earlyAckMs ?? 'default'}`,
);
console.log(`load before: ${uptime()}`);
const ratios: number[] = [];
const cpuRatios: number[] = [];
const limits: Record<Side, number[]> = { natpush: [], baseline: [] };
for (let i = 0; i < rounds; i++) {
  const order: Side[] = i % 2 === 0 ? ['natpush', 'baseline'] : ['baseline', 'natpush'];
  const got = {} as Record<Side, Step>;
  for (const side of order) {
    const steps = await runSide(side);
    for (const s of steps) console.log(`  round ${i + 1} ${NAME[side]} ${fmtStep(s)}`);
    got[side] = best(steps);
    limits[side].push(got[side].rate);
  }
  const r = got.natpush.rate / got.baseline.rate;
  const c = got.baseline.cpuUs / got.natpush.cpuUs;
  ratios.push(r);
  cpuRatios.push(c);
  console.log(
    `round ${i + 1}: natpush ${Math.round(got.natpush.rate)}/s vs bare ws ${Math.round(got.baseline.rate)}/s = ` +
      `${r.toFixed(2)}x the rate; ${c.toFixed(2)}x by server CPU per notification   (${uptime()})`,
  );
}
const m = median(ratios);
console.log(
  `median of ${rounds} rounds: natpush ${Math.round(median(limits.natpush))}/s, bare ws ` +
    `${Math.round(median(limits.baseline))}/s; ratio ${m.toFixed(2)}x ` +
    `(rounds ${ratios.map((r) => r.toFixed(2)).join(', ')}; target ≥ 0.6x: ${m >= 0.6 ? 'met' : 'NOT met'}); ` +
    `by server CPU per notification ${median(cpuRatios).toFixed(2)}x`,
);
console.log(`load after: ${uptime()}`);
