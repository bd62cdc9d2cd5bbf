/**
 * TURN relay, side by side in one run: `natpush relay` and coturn's `turnserver` under coturn's
 * own load generator, `turnutils_uclient -y -c -l SIZE -z 1` (M client-to-client sessions over
 * channels, each paced at one message per ms), with M stepped up until each server shows loss or
 * added delay. Each server's loss-free limit is the highest delivered msg/s of a step with
 * ≤ 0.1 % loss and ≤ `--max-added-ms` added round-trip delay (over its own first step).
 *
 *   npm run build && node dist/bench/relay-vs-coturn.js [--steps 30,60,120,180,240]
 *     [--messages 400] [--size 100] [--max-added-ms 5] [--prof DIR]
 *
 * Per step and server: delivered msg/s (uclient's per-second progress, steady part), loss %,
 * average RTT and the delay added over the first step, server CPU (% of a core in the busiest
 * second, and µs per delivered message over the whole step), RSS. Steps alternate between the servers so both see the same
 * machine. The machine is shared: the load average is printed with the figures. `--prof DIR`
 * runs natpush under `node --cpu-prof` (profile written to DIR when it stops).
 * `--baseline-main OTHER/dist/src/cli/main.js` adds another build of natpush (the code before a
 * change) as a third server in the same run.
 */
import os from 'node:os';
import { runUclient, type UclientResult } from './lib/coturn.js';
import {
  BENCH_PASS,
  BENCH_USER,
  benchArg,
  cpuSeconds,
  fmt,
  loadAverage,
  rssKiB,
  startCoturnRelay,
  startNatpushRelay,
  type BenchServer,
} from './lib/relay-servers.js';

const arg = benchArg;
const STEPS = arg('steps', '30,60,120,180,240').split(',').map(Number);
const MESSAGES = Number(arg('messages', '400'));
const SIZE = Number(arg('size', '100'));
const MAX_ADDED_MS = Number(arg('max-added-ms', '5'));
const MAX_LOSS = 0.001;
const PROF = arg('prof', '');
const BASELINE = arg('baseline-main', '');

interface Step {
  m: number;
  rate: number;
  lossPct: number;
  rttMs: number;
  addedMs: number;
  cpuPct: number;
  cpuUsPerMsg: number;
  rssKiB: number;
  ok: boolean;
}

/**
 * Delivered msg/s while sending: uclient prints its running totals once a second
 * ("N: : start_mclient: msz=M, tot_send_msgs=S, tot_recv_msgs=R"); the rate is the received
 * count from the first second with traffic to the end over the seconds between.
 */
function deliveredRate(r: UclientResult): number {
  const samples = [
    ...r.output.matchAll(
      /^(\d+): : start_mclient: msz=\d+, tot_send_msgs=\d+, tot_recv_msgs=(\d+)/gm,
    ),
  ].map((m) => ({ t: Number(m[1]), recv: Number(m[2]) }));
  const end = /^(\d+): : start_mclient: tot_send_msgs=\d+, tot_recv_msgs=(\d+)\s*$/m.exec(r.output);
  const first = samples.find((s) => s.recv > 0);
  if (!first || !end) return NaN;
  const seconds = Number(end[1]) - first.t;
  return seconds > 0 ? (Number(end[2]) - first.recv) / seconds : NaN;
}

async function step(s: BenchServer, m: number, baseRtt: number | undefined): Promise<Step> {
  const cpu0 = cpuSeconds(s.pid);
  const t0 = performance.now();
  // The busiest second: the whole run includes allocation set-up and uclient's final wait.
  let peak = 0;
  let last = { cpu: cpu0, at: t0 };
  const sampler = setInterval(() => {
    const now = { cpu: cpuSeconds(s.pid), at: performance.now() };
    peak = Math.max(peak, ((now.cpu - last.cpu) / (now.at - last.at)) * 1000);
    last = now;
  }, 1000);
  const r = await runUclient(
    [
      '-y',
      '-c',
      '-m',
      String(m),
      '-n',
      String(MESSAGES),
      '-l',
      String(SIZE),
      '-z',
      '1',
      '-u',
      BENCH_USER,
      '-w',
      BENCH_PASS,
      '-p',
      String(s.port),
      '127.0.0.1',
    ],
    90_000,
  ).finally(() => clearInterval(sampler));
  const cpu = cpuSeconds(s.pid) - cpu0;
  const rtt = Number(/Average round trip delay ([\d.]+) ms/.exec(r.output)?.[1] ?? NaN);
  const lossPct = r.sent > 0 ? (Math.max(0, r.sent - r.received) / r.sent) * 100 : 100;
  const addedMs = baseRtt === undefined ? 0 : rtt - baseRtt;
  return {
    m,
    rate: deliveredRate(r),
    lossPct,
    rttMs: rtt,
    addedMs,
    cpuPct: peak * 100,
    cpuUsPerMsg: r.received > 0 ? (cpu * 1e6) / r.received : NaN,
    rssKiB: rssKiB(s.pid),
    ok: r.sent > 0 && lossPct <= MAX_LOSS * 100 && addedMs <= MAX_ADDED_MS,
  };
}

const load = loadAverage;

async function main(): Promise<void> {
  console.log(
    `relay-vs-coturn: turnutils_uclient -y -c -l ${SIZE} -z 1 -n ${MESSAGES}, M = ${STEPS.join(', ')}; ` +
      `loss-free = loss ≤ ${MAX_LOSS * 100} % and added RTT ≤ ${MAX_ADDED_MS} ms`,
  );
  console.log(`load before: ${load()} on ${os.cpus().length} cores`);
  const servers = [
    await startCoturnRelay(),
    await startNatpushRelay(PROF ? ['--cpu-prof', `--cpu-prof-dir=${PROF}`] : []),
  ];
  if (BASELINE) servers.push(await startNatpushRelay([], BASELINE, 'natpush@baseline'));
  const best = new Map<string, Step>();
  const base = new Map<string, number>();
  const done = new Set<string>();
  try {
    for (const m of STEPS) {
      for (const s of servers) {
        if (done.has(s.name)) continue;
        const r = await step(s, m, base.get(s.name));
        if (!base.has(s.name)) base.set(s.name, r.rttMs);
        console.log(
          `  ${s.name.padEnd(16)} M=${String(m).padStart(3)}: ${fmt(r.rate).padStart(7)} msg/s, loss ${r.lossPct.toFixed(2)} %, ` +
            `rtt ${fmt(r.rttMs, 2)} ms (+${fmt(r.addedMs, 2)}), CPU ${fmt(r.cpuPct)} % (${fmt(r.cpuUsPerMsg, 1)} µs/msg), ` +
            `RSS ${fmt(r.rssKiB / 1024, 1)} MiB${r.ok ? '' : '  ← over the limit'}  [load ${load()}]`,
        );
        if (!r.ok) done.add(s.name);
        else if (r.rate > (best.get(s.name)?.rate ?? 0)) best.set(s.name, r);
      }
      if (done.size === servers.length) break;
    }
  } finally {
    for (const s of servers) await s.stop();
  }
  for (const s of servers) {
    const b = best.get(s.name);
    console.log(
      b
        ? `${s.name.padEnd(16)} loss-free limit: ${fmt(b.rate)} msg/s at M=${b.m} (${fmt(b.cpuUsPerMsg, 1)} µs CPU/msg, RSS ${fmt(b.rssKiB / 1024, 1)} MiB)` +
            (done.has(s.name) ? '' : ' — never over the limit: the steps, not the server, ended it')
        : `${s.name.padEnd(16)} no loss-free step`,
    );
  }
  const ours = best.get('natpush')?.rate ?? 0;
  const theirs = best.get('coturn')?.rate ?? NaN;
  console.log(`ratio natpush/coturn loss-free msg/s: ${(ours / theirs).toFixed(2)}`);
  if (BASELINE) {
    const base = best.get('natpush@baseline')?.rate ?? 0;
    console.log(`ratio natpush@baseline/coturn loss-free msg/s: ${(base / theirs).toFixed(2)}`);
  }
  console.log(`load after: ${load()}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
