/**
 * STUN Binding responses per second, `natpush stun` (one process), `natpush stun --workers 2`
 * (Node 24, SO_REUSEPORT; when .cache/node24 has it) — each with its default batched UDP
 * (`--udp-io mmsg`, recvmmsg/sendmmsg) and with node:dgram (`--udp-io dgram`) — and coturn's
 * `turnserver --stun-only` (its default threads), side by side in one run, under a C load generator that outruns both
 * (bench/lib/stun-flood.c, compiled here with gcc: sendmmsg/recvmmsg, `--sockets` × `--window`
 * requests in flight per generator process).
 *
 *   npm run build && node dist/bench/stun-vs-coturn.js [--seconds 5] [--rounds 2]
 *     [--generators 1] [--sockets 16] [--window 64] [--udp-io both|mmsg|dgram]
 *     [--baseline-main OTHER/dist/src/cli/main.js]
 *
 * The kernel spreads the generator's sockets (source ports) over the workers by hash: 16 sockets
 * keep an uneven split unlikely (with 4, all land on one worker one time in 8). CPU and RSS are
 * summed over each server's processes.
 *
 * `--udp-io mmsg` (or dgram) runs only that path of natpush, for more rounds per minute.
 *
 * `--baseline-main` adds a further server, another build of natpush (the code before a change),
 * measured in the same rounds.
 *
 * Rounds alternate between the servers, in reverse order every other round (A B B A), so a
 * change of load on the shared machine does not favour whoever runs first.
 *
 * Per server and round: responses/s, server CPU (% of a core), server RSS, generator CPU (a
 * generator near 100 % of a core would mean it, not the server, set the pace), and responses per
 * server CPU-second (what a server does with a core of its own: on a shared machine the rate is
 * what the scheduler gave it). Rounds alternate between the servers; the best round of each and
 * the median responses per CPU-second give the two ratios natpush/coturn.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, waitForStun } from './lib/coturn.js';
import { startCoturnStun } from './lib/coturn-stun.js';
import { treeCpuSeconds, treeRssKiB } from './lib/proc-tree.js';
import { benchArg, fmt, loadAverage, median, natpushMain, node24 } from './lib/relay-servers.js';
import { exitOnHelp } from './lib/bench-usage.js';

exitOnHelp(`
stun-vs-coturn: STUN Binding responses per second, natpush stun (one process), natpush stun
--workers 2 (Node 24), each with --udp-io mmsg (default) and --udp-io dgram, and coturn
--stun-only, under a C load generator (bench/lib/stun-flood.c); rounds in A B B A order.
Prints responses/s, server CPU and RSS, generator CPU, responses per server CPU-second and the
ratios to coturn, with the load average.

  npm run build && node dist/bench/stun-vs-coturn.js [--seconds 5] [--rounds 2]
    [--generators 1] [--sockets 16] [--window 64] [--udp-io both|mmsg|dgram]
    [--baseline-main OTHER/dist/src/cli/main.js]

  --udp-io         natpush's UDP paths to run (default both: 'natpush' is mmsg, 'natpush dgram')
  --seconds        length of each round
  --rounds         rounds, alternating the servers
  --generators     load generator processes
  --sockets        sockets (source ports) per generator
  --window         requests in flight per socket
  --baseline-main  another natpush build as a further server (the code before a change)
`);

const num = (name: string, dflt: number): number => Number(benchArg(name, String(dflt)));
const SECONDS = num('seconds', 5);
const ROUNDS = num('rounds', 2);
const GENERATORS = num('generators', 1);
const SOCKETS = num('sockets', 16);
const WINDOW = num('window', 64);
/** Which natpush UDP paths to run: both (default), or only mmsg / dgram (more rounds per minute). */
const UDP_IO = benchArg('udp-io', 'both');

interface Server {
  name: string;
  port: number;
  pid: number;
  stop(): Promise<void>;
}

async function natpushStun(
  main = natpushMain(),
  name = 'natpush',
  node = process.execPath,
  more: string[] = [],
): Promise<Server> {
  const port = await freePort();
  const c: ChildProcess = spawn(
    node,
    [main, 'stun', '--listen', `127.0.0.1:${port}`, '--no-tcp', ...more].concat([
      '--rate-limit',
      '100000000',
    ]),
    { stdio: 'ignore' },
  );
  await waitForStun(port);
  const exited = new Promise((r) => c.once('exit', r));
  return {
    name,
    port,
    pid: c.pid!,
    stop: async () => {
      c.kill('SIGTERM');
      await exited;
    },
  };
}

async function coturnStun(): Promise<Server> {
  const c = await startCoturnStun({ rfc5780: false });
  return { name: 'coturn', port: c.port, pid: c.process.pid!, stop: () => c.stop() };
}

/** gcc the generator (bench/lib/stun-flood.c; tsc leaves it in the source tree). */
function compileGenerator(dir: string): string {
  const source = fileURLToPath(new URL('../../bench/lib/stun-flood.c', import.meta.url));
  const bin = join(dir, 'stun-flood');
  execFileSync('gcc', ['-O2', '-o', bin, source]);
  return bin;
}

interface Round {
  rate: number;
  serverCpuPct: number;
  genCpuPct: number[];
  rssKiB: number;
}

function runGenerator(bin: string, port: number): Promise<{ rate: number; cpu: number }> {
  return new Promise((resolve, reject) => {
    const g = spawn(bin, [
      '127.0.0.1',
      String(port),
      String(SOCKETS),
      String(WINDOW),
      String(SECONDS),
      '1',
    ]);
    let out = '';
    g.stdout.on('data', (d: Buffer) => (out += d.toString()));
    g.once('exit', (code) => {
      const m = /rate (\d+) cpu ([\d.]+)/.exec(out);
      if (code !== 0 || !m) return reject(new Error(`stun-flood exited ${code}: ${out}`));
      resolve({ rate: Number(m[1]), cpu: Number(m[2]) });
    });
  });
}

async function round(bin: string, s: Server): Promise<Round> {
  const cpu0 = treeCpuSeconds(s.pid);
  const t0 = performance.now();
  const gens = await Promise.all(
    Array.from({ length: GENERATORS }, () => runGenerator(bin, s.port)),
  );
  const wall = (performance.now() - t0) / 1000;
  return {
    rate: gens.reduce((a, g) => a + g.rate, 0),
    serverCpuPct: ((treeCpuSeconds(s.pid) - cpu0) / wall) * 100,
    genCpuPct: gens.map((g) => (g.cpu / wall) * 100),
    rssKiB: treeRssKiB(s.pid),
  };
}

const perCpu = (x: Round): number => x.rate / (x.serverCpuPct / 100);

async function main(): Promise<void> {
  const load = loadAverage;
  console.log(
    `stun-vs-coturn: ${GENERATORS} C generator(s) × ${SOCKETS} sockets × ${WINDOW} in flight, ${SECONDS} s (+1 s warm-up) per round, ${ROUNDS} rounds; ${os.cpus().length} cores; load ${load()}`,
  );
  const dir = mkdtempSync(join(os.tmpdir(), 'natpush-stun-flood-'));
  const baseline = benchArg('baseline-main', '');
  // The reply budget (--reply-budget, 24 MiB/s per process by default) is a policy, not a cost:
  // set far above any rate here, so the runs measure what the check costs, not where it cuts.
  const budgetOff = ['--reply-budget', String(1e12)];
  const mmsg = UDP_IO !== 'dgram';
  const dgram = UDP_IO !== 'mmsg';
  const dgramIo = ['--udp-io', 'dgram'];
  // 'natpush' is the default build's path (mmsg), or dgram when only that is asked for.
  const servers = [
    await coturnStun(),
    await natpushStun(
      undefined,
      'natpush',
      undefined,
      mmsg ? budgetOff : [...budgetOff, ...dgramIo],
    ),
  ];
  if (mmsg && dgram) {
    servers.push(
      await natpushStun(undefined, 'natpush dgram', undefined, [...budgetOff, ...dgramIo]),
    );
  }
  if (baseline) servers.push(await natpushStun(baseline, 'natpush@baseline', undefined, budgetOff));
  const n24 = node24();
  const w2 = ['--workers', '2', ...budgetOff];
  if (n24) {
    servers.push(await natpushStun(undefined, 'natpush -w2', n24, mmsg ? w2 : [...w2, ...dgramIo]));
    if (mmsg && dgram) {
      servers.push(await natpushStun(undefined, 'natpush -w2 dgram', n24, [...w2, ...dgramIo]));
    }
  }
  const best = new Map<string, Round>();
  const rounds = new Map<string, Round[]>();
  try {
    const bin = compileGenerator(dir);
    for (let r = 0; r < ROUNDS; r++) {
      for (const s of r % 2 === 0 ? servers : [...servers].reverse()) {
        const x = await round(bin, s);
        console.log(
          `  ${s.name.padEnd(16)} ${fmt(x.rate).padStart(8)} responses/s, server CPU ${fmt(x.serverCpuPct)} % (${fmt(perCpu(x))} per CPU-second), RSS ${fmt(x.rssKiB / 1024, 1)} MiB, ` +
            `generator CPU ${x.genCpuPct.map((c) => `${fmt(c)} %`).join(' ')}  [load ${load()}]`,
        );
        if (x.rate > (best.get(s.name)?.rate ?? 0)) best.set(s.name, x);
        rounds.set(s.name, [...(rounds.get(s.name) ?? []), x]);
      }
    }
  } finally {
    for (const s of servers) await s.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  const ours = best.get('natpush')!;
  const theirs = best.get('coturn')!;
  console.log(
    `best: coturn ${fmt(theirs.rate)}/s at ${fmt(theirs.serverCpuPct)} % CPU; natpush ${fmt(ours.rate)}/s at ${fmt(ours.serverCpuPct)} % CPU`,
  );
  console.log(`ratio natpush/coturn responses/s: ${(ours.rate / theirs.rate).toFixed(2)}`);
  // On a machine shared with other work a server gets what the scheduler gives it; responses
  // per CPU-second is what it would do with a core of its own.
  const eff = (name: string): number => median(rounds.get(name)!.map(perCpu));
  console.log(
    `responses per CPU-second (median of rounds): coturn ${fmt(eff('coturn'))}, natpush ${fmt(eff('natpush'))}; ratio ${(eff('natpush') / eff('coturn')).toFixed(2)}`,
  );
  for (const name of ['natpush dgram', 'natpush -w2', 'natpush -w2 dgram']) {
    const x = best.get(name);
    if (!x) continue;
    console.log(
      `${name}: best ${fmt(x.rate)}/s at ${fmt(x.serverCpuPct)} % CPU, ratio to coturn ${(x.rate / theirs.rate).toFixed(2)}; ` +
        `${fmt(eff(name))} per CPU-second, ratio ${(eff(name) / eff('coturn')).toFixed(2)}`,
    );
  }
  if (baseline) {
    const base = eff('natpush@baseline');
    console.log(
      `natpush@baseline ${fmt(base)} per CPU-second (ratio ${(base / eff('coturn')).toFixed(2)}); this build / baseline: ${(eff('natpush') / base).toFixed(2)}`,
    );
  }
  console.log(`load after: ${load()}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
