/**
 * TURN relay, side by side in one run: coturn (its default relay threads), `natpush relay` in one
 * process and `natpush relay --workers 2` (SO_REUSEPORT), under coturn's own load
 * generator `turnutils_uclient -y -c -l SIZE -z 1` (client-to-client sessions over channels, each
 * paced at one message per ms). The total sessions S step up until each server shows loss or
 * added delay; S is spread over ceil(S / --per-uclient) uclient processes (one uclient falls
 * behind its own schedule above ~100 sessions, before any server does: bench/lib/uclient-load.ts).
 *
 *   npm run build && node dist/bench/relay-vs-coturn.js [--quick] [--sizes 100,1000]
 *     [--steps 100,200,400,600,800,1000,1300,1600] [--per-uclient 100] [--messages 1000]
 *     [--max-added-ms 5] [--alloc-count 1000] [--memory-only] [--prof DIR]
 *
 * `--udp-io both|mmsg|dgram` (default both): natpush's UDP paths — 'natpush' is the batched one
 * (`relay --udp-io mmsg`, the default: recvmmsg/sendmmsg on the listener and every relayed
 * socket), 'natpush dgram' node:dgram; `--no-workers` leaves `--workers 2` out (shorter runs).
 *
 * `--workers-node current|24|both` (default current): the Node that runs `--workers 2` ('natpush
 * -w2'): this one, when it can share the port (the udp_mmsg addon on any Node, or dgram's
 * reusePort on Node >= 22.12; else Node 24 with a note), Node 24 from .cache/node24 ('natpush
 * -w2 24'), or both side by side.
 *
 * `--quick` (< 60 s, a smoke test of the whole bench): 100 B only, S = 300, 300 messages, 100 + 100
 * allocations for memory.
 *
 * uclient's `-z 1` is a wish: it sends one message per session per tick of its event loop, and
 * the ticks stretch with the machine's load (~400 msg/s per session on a quiet machine, ~100 at
 * load 15, each uclient at < 5 % of a core). The offered rate is printed beside the delivered.
 *
 * Per step and server: offered and delivered msg/s in the window where every uclient was sending,
 * loss over the step, added delay (p50 RTT of a probe pair on the same server, bench/lib/
 * rtt-probe.ts, minus its p50 on the idle server), server CPU per delivered message (all of its
 * processes and threads), and the busiest uclient's CPU (near 100 % = the generator was the
 * ceiling). A step is loss-free with ≤ 0.1 % loss and ≤ --max-added-ms; a step that is not is run
 * once more before it counts (the machine is shared). Per server: the highest
 * loss-free rate, its CPU per message and added delay, RSS per allocation (bench/lib/rtt-probe.ts:
 * the slope of the process tree's RSS from --alloc-count to twice as many allocations, each with
 * a channel), and the ratios to coturn. Steps alternate between the servers, in reverse order every
 * other step (A B B A), so all see the same machine; the load average is
 * printed with every step (the machine is shared). `--prof DIR` runs the one-process natpush under
 * `node --cpu-prof`.
 */
import os from 'node:os';
import { treeCpuSeconds, treeRssKiB } from './lib/proc-tree.js';
import {
  BENCH_PASS,
  BENCH_USER,
  benchArg,
  fmt,
  loadAverage,
  node24,
  startCoturnRelay,
  startNatpushRelay,
  type BenchServer,
} from './lib/relay-servers.js';
import { rssPerAllocation, rttProbe, type RttProbe } from './lib/rtt-probe.js';
import { uclientStep } from './lib/uclient-load.js';
import { exitOnHelp } from './lib/bench-usage.js';
import { udpPortShareUnavailable } from '../src/server/workers/runtime.js';

exitOnHelp(`
relay-vs-coturn: coturn, natpush relay and natpush relay --workers 2 under turnutils_uclient -y -c -z 1
(client-to-client sessions over channels), stepping the sessions up until each server shows loss or
added delay; prints msg/s, loss, added delay, CPU per message, RSS per allocation and the ratios to
coturn, with the load average.

  npm run build && node dist/bench/relay-vs-coturn.js [--quick] [--sizes 100,1000]
    [--steps 100,200,400,600,800,1000,1300,1600] [--per-uclient 100] [--messages 1000]
    [--max-added-ms 5] [--alloc-count 1000] [--memory-only] [--prof DIR] [--natpush-main PATH]
    [--udp-io both|mmsg|dgram] [--no-workers] [--workers-node current|24|both]

  --udp-io         natpush's UDP paths to run (default both: 'natpush' is mmsg, 'natpush dgram')
  --no-workers     leave natpush --workers 2 out
  --workers-node   the Node running --workers 2: current (default; Node 24 when this one cannot
                   share the port), 24 (.cache/node24), or both
  --quick          < 60 s smoke run: 100 B, S = 300, 300 messages, 100 + 100 allocations
  --sizes          message sizes in bytes
  --steps          total sessions per step
  --per-uclient    sessions per turnutils_uclient process
  --messages       messages per session per step
  --max-added-ms   added probe delay a loss-free step may show
  --alloc-count    allocations for the RSS-per-allocation slope (this many, then twice as many)
  --memory-only    only the RSS per allocation
  --prof DIR       run the one-process natpush under node --cpu-prof, profiles into DIR
  --natpush-main   another build's dist/src/cli/main.js instead of this one's
`);

const QUICK = process.argv.includes('--quick');
const list = (name: string, dflt: string): number[] => benchArg(name, dflt).split(',').map(Number);
const SIZES = list('sizes', QUICK ? '100' : '100,1000');
const STEPS = list('steps', QUICK ? '300' : '100,200,400,600,800,1000,1300,1600');
const PER_UCLIENT = Number(benchArg('per-uclient', '100'));
const MESSAGES = Number(benchArg('messages', QUICK ? '300' : '1000'));
const MAX_ADDED_MS = Number(benchArg('max-added-ms', '5'));
const ALLOC_COUNT = Number(benchArg('alloc-count', QUICK ? '100' : '1000'));
const MAX_LOSS_PCT = 0.1;
const PROF = benchArg('prof', '');
/** Which natpush UDP paths to run: both (default), or only mmsg / dgram. */
const UDP_IO = benchArg('udp-io', 'both');
const WORKERS = !process.argv.includes('--no-workers');
const WORKERS_NODE = benchArg('workers-node', 'current');
if (!['current', '24', 'both'].includes(WORKERS_NODE)) {
  throw new Error(`--workers-node ${WORKERS_NODE}: current, 24 or both`);
}

interface Step {
  s: number;
  offered: number;
  rate: number;
  lossPct: number;
  addedMs: number;
  cpuUsPerMsg: number;
  uclientCpuPct: number;
  ok: boolean;
  failed: string | undefined;
}

interface Running {
  server: BenchServer;
  probe: RttProbe;
  idleRtt: number;
  best?: Step;
  over?: Step;
  /** The last step's uclients, still ending. */
  drained?: Promise<void>;
}

async function start(): Promise<BenchServer[]> {
  // coturn's relay port range also holds the allocations each cut-short step leaves to expire.
  const servers = [await startCoturnRelay(20_000)];
  const prof = PROF ? ['--cpu-prof', `--cpu-prof-dir=${PROF}`] : [];
  const mmsg = UDP_IO !== 'dgram';
  const dgram = UDP_IO !== 'mmsg';
  // 'natpush' is the default path (mmsg), or dgram when only that is asked for.
  const io = (x: 'mmsg' | 'dgram'): string[] => [`--udp-io=${x}`];
  servers.push(
    await startNatpushRelay(prof, undefined, 'natpush', { args: io(mmsg ? 'mmsg' : 'dgram') }),
  );
  if (mmsg && dgram) {
    servers.push(await startNatpushRelay([], undefined, 'natpush dgram', { args: io('dgram') }));
  }
  if (WORKERS) servers.push(...(await startWorkers(mmsg ? 'mmsg' : 'dgram')));
  return servers;
}

/** `natpush relay --workers 2` on the Node(s) --workers-node names ('natpush -w2 24' on Node 24
 *  when it runs beside this Node's). */
async function startWorkers(io: 'mmsg' | 'dgram'): Promise<BenchServer[]> {
  const args = ['--workers=2', `--udp-io=${io}`];
  const unshared = udpPortShareUnavailable(io);
  const here = WORKERS_NODE !== '24' && unshared === undefined;
  if (WORKERS_NODE !== '24' && !here) {
    console.log(`  (--workers 2 cannot share the port on ${process.version}: ${unshared})`);
  }
  const n24 = WORKERS_NODE === '24' || WORKERS_NODE === 'both' || !here ? node24() : undefined;
  if ((WORKERS_NODE !== 'current' || !here) && !n24) {
    console.log('  (no Node 24 in .cache/node24: run scripts/install-node24.sh for it)');
  }
  const out: BenchServer[] = [];
  if (here) out.push(await startNatpushRelay([], undefined, 'natpush -w2', { args }));
  if (n24) {
    const name = here ? 'natpush -w2 24' : 'natpush -w2';
    out.push(await startNatpushRelay([], undefined, name, { node: n24, args }));
  }
  return out;
}

async function idleRtt(probe: RttProbe): Promise<number> {
  probe.start();
  await new Promise((r) => setTimeout(r, 1500));
  return probe.stop();
}

async function step(r: Running, s: number, size: number): Promise<Step> {
  await r.drained;
  const processes = Math.ceil(s / PER_UCLIENT);
  const cpu0 = treeCpuSeconds(r.server.pid);
  r.probe.start();
  const u = await uclientStep({
    port: r.server.port,
    user: BENCH_USER,
    password: BENCH_PASS,
    processes,
    sessionsEach: Math.round(s / processes),
    messages: MESSAGES,
    size,
    timeoutMs: 180_000,
  });
  const rtt = r.probe.stop(u.from, u.to);
  r.drained = u.drained;
  const cpu = treeCpuSeconds(r.server.pid) - cpu0;
  const lossPct = u.sent > 0 ? (Math.max(0, u.sent - u.received) / u.sent) * 100 : 100;
  // A probe that got no answer in the window saw nothing but delay.
  const addedMs = Number.isNaN(rtt) ? Infinity : Math.max(0, rtt - r.idleRtt);
  return {
    s,
    offered: u.sendRate,
    rate: u.deliveredRate,
    lossPct,
    addedMs,
    cpuUsPerMsg: u.received > 0 ? (cpu * 1e6) / u.received : NaN,
    uclientCpuPct: u.uclientCpuPct,
    ok: !u.failed && u.sent > 0 && lossPct <= MAX_LOSS_PCT && addedMs <= MAX_ADDED_MS,
    failed: u.failed,
  };
}

function line(name: string, x: Step): string {
  return (
    `  ${name.padEnd(12)} S=${String(x.s).padStart(3)}: offered ${fmt(x.offered).padStart(7)}, ` +
    `delivered ${fmt(x.rate).padStart(7)} msg/s, loss ${x.lossPct.toFixed(2)} %, ` +
    `+${fmt(x.addedMs, 1)} ms, ${fmt(x.cpuUsPerMsg, 1)} µs CPU/msg, uclient ${fmt(x.uclientCpuPct)} %` +
    (x.ok ? '' : `  ← over${x.failed ? ` (${x.failed.slice(0, 80)})` : ''}`) +
    `  [load ${loadAverage()}]`
  );
}

async function runSize(size: number, servers: BenchServer[]): Promise<Map<string, Running>> {
  const runs = new Map<string, Running>();
  for (const server of servers) {
    const probe = await rttProbe(server.port);
    runs.set(server.name, { server, probe, idleRtt: await idleRtt(probe) });
  }
  console.log(
    `\n${size} B: idle probe RTT ${[...runs.values()].map((r) => `${r.server.name} ${fmt(r.idleRtt, 2)} ms`).join(', ')}`,
  );
  for (const [k, s] of STEPS.entries()) {
    const order = [...runs.values()];
    for (const r of k % 2 === 0 ? order : order.reverse()) {
      if (r.over) continue;
      let x = await step(r, s, size);
      console.log(line(r.server.name, x));
      if (!x.ok && !x.failed) {
        // The machine is shared: a step over the limit is run once more, and only a second
        // miss ends this server's climb (one burst of other work must not set its limit).
        x = await step(r, s, size);
        console.log(line(`${r.server.name} again`, x));
      }
      if (!x.ok) r.over = x;
      else if (x.rate > (r.best?.rate ?? 0)) r.best = x;
    }
    if ([...runs.values()].every((r) => r.over)) break;
  }
  for (const r of runs.values()) await Promise.all([r.drained, r.probe.close()]);
  return runs;
}

function summary(size: number, runs: Map<string, Running>, rss: Map<string, number>): void {
  console.log(
    `\n${size} B summary (loss-free: ≤ ${MAX_LOSS_PCT} % loss, ≤ ${MAX_ADDED_MS} ms added):`,
  );
  const c = runs.get('coturn')?.best;
  const cRss = rss.get('coturn') ?? NaN;
  for (const r of runs.values()) {
    const b = r.best;
    const name = r.server.name.padEnd(12);
    const kib = rss.get(r.server.name) ?? NaN;
    const tail = r.over
      ? ''
      : ` — never over the limit: the steps (or the generator), not the server, ended it`;
    console.log(
      b
        ? `  ${name} ${fmt(b.rate).padStart(7)} msg/s loss-free at S=${b.s}, ${fmt(b.cpuUsPerMsg, 1)} µs CPU/msg, ` +
            `+${fmt(b.addedMs, 1)} ms, ${fmt(kib, 1)} KiB RSS/allocation${tail}`
        : `  ${name} no loss-free step`,
    );
    if (r.server.name !== 'coturn' && c && b) {
      console.log(
        `  ${''.padEnd(12)} ratio to coturn: rate ${(b.rate / c.rate).toFixed(2)}, ` +
          `CPU/msg ${(b.cpuUsPerMsg / c.cpuUsPerMsg).toFixed(2)}, RSS/allocation ${(kib / cRss).toFixed(2)}`,
      );
    }
  }
}

async function main(): Promise<void> {
  console.log(
    `relay-vs-coturn: turnutils_uclient -y -c -z 1 -n ${MESSAGES}, sizes ${SIZES.join(', ')} B, ` +
      `S = ${STEPS.join(', ')} sessions (≤ ${PER_UCLIENT} per uclient process)`,
  );
  console.log(`load before: ${loadAverage()} on ${os.cpus().length} cores`);
  const servers = await start();
  // Interrupted: stop the servers (their workers and coturn would outlive the bench otherwise).
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      void Promise.all(servers.map((s) => s.stop())).finally(() => process.exit(130));
    });
  }
  for (const s of servers) console.log(`  ${s.name.padEnd(12)} ${s.note ?? ''}`);
  try {
    const rss = new Map<string, number>();
    for (const s of servers) {
      rss.set(s.name, await rssPerAllocation(s.port, ALLOC_COUNT, () => treeRssKiB(s.pid)));
    }
    console.log(
      `RSS per allocation (slope from ${ALLOC_COUNT} to ${2 * ALLOC_COUNT} held, each with a channel): ` +
        servers.map((s) => `${s.name} ${fmt(rss.get(s.name)!, 1)} KiB`).join(', ') +
        `  [load ${loadAverage()}]`,
    );
    if (process.argv.includes('--memory-only')) return;
    for (const size of SIZES) summary(size, await runSize(size, servers), rss);
  } finally {
    for (const s of servers) await s.stop();
  }
  console.log(`\nload after: ${loadAverage()}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
