/**
 * Time to the first direct round trip, natpush against libjuice (node-datachannel), in netsim.
 *
 *   npm run build && node dist/bench/punch-latency.js [--runs 50] [--delay 25,100] [--lead MS]
 *       [--parallel 3] [--settle MS] [--cold] [--no-relay] [--prewarm] [--skip-libjuice]
 *       [--skip-natpush]
 *
 * `--parallel K` (default 3) runs K host pairs side by side (each host behind its own NAT) so
 * 50 runs at D = 100 ms fit in minutes; the work per run is a few round trips, not CPU.
 *
 * natpush is measured in two cases per delay, each over `--runs` runs:
 *   logged in          both peers logged in `--settle` ms before the ping (default max(1000, 10·D)):
 *                      the case of the floor below (candidates gathered, offers registered)
 *   right after login  the ping leaves as soon as both are logged in
 * Both with `warmDirect: true` (the punch layer made at login, as `natpush listen` / `ping` do);
 * `--cold` adds both cases with the library's default `warmDirect: false`.
 *
 * Experiments (natpush only; the defaults measure natpush as built):
 *   --lead MS   serve's coordinated-start lead (TIMING.punchLeadMs, 20) set through
 *               bench/lib/punch-lead-preload.ts
 *   --prewarm   candidates gathered when the punch layer is made (bench/lib/punch-prewarm.ts;
 *               the connector has done so itself since)
 *   --no-relay  (connector mode only) no TURN candidate
 *
 * Lab (bench/lib/punch-lab.ts): hosts a and b behind their own port-restricted NATs, each NAT's
 * WAN link delaying every packet D ms each way; `natpush serve` (signaling + STUN + TURN) on the
 * internet server. Per D, in one run of this process:
 *
 * 1. natpush: both peers logged in (fresh identity, Peer, UDP socket, punch layer every run), then
 *    A pings B; the figure is the time from the ping's start to the first pong over a direct path
 *    (a ping that left on the direct path and came back on it). test/support/ladder-peer.mjs
 *    drives `Peer.ping` and reports the phases of the critical path.
 * 2. libjuice: node-datachannel peers with serve's STUN as their ICE server; the offer/answer and
 *    trickled candidates are forwarded by this process after 2·D ms (what a hop through the
 *    server adds: the sender's NAT link then the receiver's). From the offerer's start to the data
 *    channel open and to the first echo.
 *
 * The floor: both peers logged in, A's request reaches the server (D), the server tells both (D),
 * one direct round trip (A→B crosses two NAT links: 2·D, and back: 2·D) = 6·D. The machine is
 * shared: the load average is printed with the figures.
 */
import { TIMING } from '../src/signaling/constants.js';
import os from 'node:os';
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
const LIBJUICE_PEER = fileURLToPath(
  new URL('../../bench/lib/libjuice-punch-peer.mjs', import.meta.url),
);

interface Args {
  runs: number;
  delays: number[];
  lead: number | undefined;
  relay: boolean;
  libjuice: boolean;
  natpush: boolean;
  prewarm: boolean;
  /** "Logged in": wait this long between both logins and the ping (undefined: max(1 s, 10·D)). */
  settleMs: number | undefined;
  /** Also measure with the library's default `warmDirect: false`. */
  cold: boolean;
  parallel: number;
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    runs: 50,
    delays: [25, 100],
    lead: undefined,
    relay: true,
    libjuice: true,
    natpush: true,
    prewarm: false,
    settleMs: undefined,
    cold: false,
    parallel: 3,
  };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    const v = (): string => {
      const x = argv[++i];
      if (x === undefined) throw new TypeError(`${k} needs a value`);
      return x;
    };
    if (k === '--runs') a.runs = Number(v());
    else if (k === '--delay') a.delays = v().split(',').map(Number);
    else if (k === '--lead') a.lead = Number(v());
    else if (k === '--no-relay') a.relay = false;
    else if (k === '--skip-libjuice') a.libjuice = false;
    else if (k === '--skip-natpush') a.natpush = false;
    else if (k === '--prewarm') a.prewarm = true;
    else if (k === '--settle') a.settleMs = Number(v());
    else if (k === '--cold') a.cold = true;
    else if (k === '--parallel') a.parallel = Number(v());
    else throw new TypeError(`unknown argument ${k}`);
  }
  if (!(a.runs >= 1)) throw new RangeError('--runs must be >= 1');
  if (!(a.parallel >= 1 && a.parallel <= 8)) throw new RangeError('--parallel must be 1..8');
  for (const d of a.delays) if (!(d >= 0 && d <= 1000)) throw new RangeError(`bad delay ${d}`);
  return a;
}

interface Stats {
  n: number;
  p50: number;
  p95: number;
  min: number;
  max: number;
}

function stats(xs: number[]): Stats {
  const s = [...xs].sort((x, y) => x - y);
  return {
    n: s.length,
    p50: percentile(s, 50),
    p95: percentile(s, 95),
    min: s[0]!,
    max: s.at(-1)!,
  };
}

function row(name: string, xs: number[], extra = ''): string {
  const s = stats(xs);
  return `  ${name.padEnd(34)} ${fmt(s.p50).padStart(6)} ${fmt(s.p95).padStart(6)} ${fmt(s.min).padStart(6)} ${fmt(s.max).padStart(6)} ${String(s.n).padStart(4)}  ${extra}`;
}

interface Ready {
  id: string;
  publicKey: string;
  mode: string;
}
interface Pong {
  path: string;
  rttMs: number;
  sinceStartMs: number;
  remoteType?: string;
  phases?: Record<string, number>;
}

interface NatpushResult {
  mode: string;
  firstDirect: number[];
  rtt: number[];
  phases: Record<string, number[]>;
  failures: string[];
}

/** Runs `a.runs` times over `a.parallel` host pairs side by side; `one(i)` does one run on pair i. */
async function spread(a: Args, one: (pair: number) => Promise<void>): Promise<void> {
  let left = a.runs;
  await Promise.all(
    Array.from({ length: a.parallel }, async (_, pair) => {
      while (left > 0) {
        left--;
        await one(pair);
      }
    }),
  );
}

const hostOf = (side: 'a' | 'b', pair: number): string => `${side}${pair === 0 ? '' : pair}`;

interface Scenario {
  name: string;
  settleMs: number;
  warmDirect: boolean;
}

async function natpushRuns(pl: PunchLab, a: Args, sc: Scenario): Promise<NatpushResult> {
  const spawn = (host: string): LineChild =>
    lineChild(
      pl.lab.spawn(host, process.execPath, [LADDER_PEER, pl.serverUrl], {
        stdio: ['pipe', 'pipe', 'inherit'],
        env: {
          ...process.env,
          NATPUSH_BENCH_PREWARM: a.prewarm ? '1' : '0',
          NATPUSH_BENCH_WARM: sc.warmDirect ? '1' : '0',
        },
      }),
      `natpush ${host}`,
    );
  const peers = Array.from({ length: a.parallel }, (_, i) => [
    spawn(hostOf('a', i)),
    spawn(hostOf('b', i)),
  ]);
  const r: NatpushResult = { mode: '?', firstDirect: [], rtt: [], phases: {}, failures: [] };
  try {
    await spread(a, async (pair) => {
      const [pa, pb] = peers[pair]!;
      try {
        pa!.send({ login: { relay: a.relay } });
        pb!.send({ login: { relay: a.relay } });
        const [, rb] = await Promise.all([pa!.next<Ready>('ready'), pb!.next<Ready>('ready')]);
        r.mode = rb.mode;
        if (sc.settleMs > 0) await new Promise((res) => setTimeout(res, sc.settleMs));
        const untilDirect = rb.mode === 'ladder';
        // Ladder: pings back to back (5 ms apart, so a fast lab cannot use up the count before
        // the punch ends); the driver sends one more the moment the path turns direct.
        pa!.send({
          ping: {
            to: rb.id,
            publicKey: rb.publicKey,
            count: untilDirect ? 2000 : 1,
            untilDirect,
            intervalMs: 5,
          },
        });
        for (;;) {
          const p = await pa!.next<Pong>('pong', 20_000);
          if (p.path !== 'direct') {
            if (untilDirect) continue;
            throw new Error(`path ${p.path}, not direct`);
          }
          r.firstDirect.push(p.sinceStartMs);
          r.rtt.push(p.rttMs);
          for (const [k, v] of Object.entries(p.phases ?? {})) (r.phases[k] ??= []).push(v);
          break;
        }
        await pa!.next('pinged', 20_000);
      } catch (err) {
        r.failures.push(String(err));
      } finally {
        pa!.send({ logout: true });
        pb!.send({ logout: true });
        await Promise.all([pa!.next('closed'), pb!.next('closed')]).catch(() => {});
      }
    });
  } finally {
    await Promise.all(peers.flat().map((p) => p.close()));
  }
  return r;
}

interface JuiceResult {
  open: number[];
  echo: number[];
  pairs: Record<string, number>;
  failures: string[];
}

async function libjuiceRuns(pl: PunchLab, a: Args, delayMs: number): Promise<JuiceResult> {
  const stun = [pl.lab.address('server'), '3478'];
  const spawn = (host: string): LineChild =>
    lineChild(
      pl.lab.spawn(host, process.execPath, [LIBJUICE_PEER, ...stun], {
        stdio: ['pipe', 'pipe', 'inherit'],
      }),
      `libjuice ${host}`,
    );
  const peers = Array.from({ length: a.parallel }, (_, i) => {
    const [ja, jb] = [spawn(hostOf('a', i)), spawn(hostOf('b', i))];
    // Signaling through "the server": each message arrives 2·D later (sender's NAT link, then
    // the receiver's), in order.
    for (const [from, to] of [
      [ja, jb],
      [jb, ja],
    ] as const) {
      from.onLine((m) => {
        if (m.description || m.candidate) setTimeout(() => to.send(m), 2 * delayMs);
      });
    }
    return [ja, jb] as const;
  });
  const r: JuiceResult = { open: [], echo: [], pairs: {}, failures: [] };
  try {
    await spread(a, async (pair) => {
      const [ja, jb] = peers[pair]!;
      try {
        ja.send({ new: { role: 'offer' } });
        jb.send({ new: { role: 'answer' } });
        ja.send({ go: true });
        const res = await ja.next<{
          openMs: number;
          echoMs: number;
          pair?: { local: { type: string }; remote: { type: string } };
        }>('result', 20_000);
        r.open.push(res.openMs);
        r.echo.push(res.echoMs);
        const k = res.pair ? `${res.pair.local.type}/${res.pair.remote.type}` : 'unknown';
        r.pairs[k] = (r.pairs[k] ?? 0) + 1;
      } catch (err) {
        r.failures.push(String(err));
      } finally {
        ja.send({ end: true });
        jb.send({ end: true });
        await Promise.all([ja.next('ended'), jb.next('ended')]).catch(() => {});
        // Let late trickled candidates of this run drain before the next PeerConnection exists.
        await new Promise((res) => setTimeout(res, 2 * delayMs + 50));
      }
    });
  } finally {
    await Promise.all(peers.flat().map((p) => p.close()));
  }
  return r;
}

const PHASES: Record<string, string> = {
  firstPong: 'first pong (any path)',
  candidatesSent: 'our candidates sent',
  candidatesReceived: "the other side's candidates in",
  punchSent: 'punch request sent (A initiates)',
  punchStartReceived: 'punch-start in',
  checksStart: 'checks start (punch-start.at)',
  punchRttMs: "(serve's rtt in punch-start)",
  pathSelected: 'direct path up at A',
  punched: "'punch' event at A",
  handshake: 'Noise IK handshake done',
};

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  console.log(
    `punch-latency: ${a.runs} runs per delay (${a.parallel} host pairs side by side), one-way delay per NAT WAN link D = ${a.delays.join(', ')} ms` +
      `${a.lead !== undefined ? `, serve punch lead ${a.lead} ms` : ''}${a.relay ? '' : ', no TURN candidate'}` +
      `${a.prewarm ? ', candidates gathered when the punch layer is made (experiment)' : ''}`,
  );
  console.log(`load before: ${load()}`);
  const summary: string[] = [];
  for (const d of a.delays) {
    const t0 = performance.now();
    const pl = await createPunchLab(d, a.lead, a.parallel);
    try {
      const floor = 6 * d;
      console.log(
        `\nD = ${d} ms: floor = D (A→server) + D (server→both) + 4·D (direct round trip) = 6·D = ${floor} ms` +
          ' (both logged in; candidates, key and handshake would have to ride on those trips)',
      );
      console.log(
        `  ${'ms'.padEnd(34)} ${'p50'.padStart(6)} ${'p95'.padStart(6)} ${'min'.padStart(6)} ${'max'.padStart(6)} ${'n'.padStart(4)}`,
      );
      const scenarios: Scenario[] = [];
      if (a.natpush) {
        const settleMs = a.settleMs ?? Math.max(1_000, 10 * d);
        scenarios.push(
          { name: `logged in (${settleMs} ms before)`, settleMs, warmDirect: true },
          { name: 'right after login', settleMs: 0, warmDirect: true },
        );
        if (a.cold)
          scenarios.push(
            { name: `logged in, warmDirect off`, settleMs, warmDirect: false },
            { name: 'right after login, warmDirect off', settleMs: 0, warmDirect: false },
          );
      }
      const results: { sc: Scenario; np: NatpushResult }[] = [];
      for (const sc of scenarios) {
        const np = await natpushRuns(pl, a, sc);
        results.push({ sc, np });
        console.log(`  natpush ${sc.name} (${np.mode} mode), phases at A from ping start:`);
        const byP50 = Object.entries(np.phases).sort((x, y) => stats(x[1]).p50 - stats(y[1]).p50);
        for (const [k, xs] of byP50) console.log(row(`  ${PHASES[k] ?? k}`, xs));
        console.log(row(`natpush ${sc.name}: first direct pong`.slice(0, 34), np.firstDirect));
        console.log(row('natpush: direct ping rtt', np.rtt));
        if (np.failures.length > 0)
          console.log(
            `  natpush failures: ${np.failures.length}: ${np.failures.slice(0, 3).join(' | ')}`,
          );
      }
      let lj: JuiceResult | undefined;
      if (a.libjuice) {
        lj = await libjuiceRuns(pl, a, d);
        console.log(row('libjuice: data channel open', lj.open));
        console.log(row('libjuice: first echo', lj.echo, JSON.stringify(lj.pairs)));
        if (lj.failures.length > 0)
          console.log(
            `  libjuice failures: ${lj.failures.length}: ${lj.failures.slice(0, 3).join(' | ')}`,
          );
      }
      const lead = a.lead ?? TIMING.punchLeadMs;
      console.log(
        `  natpush critical path as built, logged in: 2D (candidates to serve, its answer back; the ` +
          `key lookup alongside) + ${lead} ms lead + 4D first check round trip, carrying the Noise IK ` +
          `init with the ping and its answer with the pong = 6·D + ${lead} = ${6 * d + lead} ms`,
      );
      const lj50 = lj && lj.echo.length > 0 ? stats(lj.echo).p50 : NaN;
      const lj95 = lj && lj.echo.length > 0 ? stats(lj.echo).p95 : NaN;
      console.log(
        `\n  D = ${d} ms, floor 6·D = ${floor} ms (load ${load()})\n` +
          `  ${'first direct round trip'.padEnd(42)} ${'p50'.padStart(6)} ${'p95'.padStart(6)} ${'n'.padStart(4)} ${'p50/floor'.padStart(9)} ${'libjuice/natpush'.padStart(16)}`,
      );
      for (const { sc, np } of results) {
        const st = np.firstDirect.length > 0 ? stats(np.firstDirect) : undefined;
        const p50 = st?.p50 ?? NaN;
        const line = `  ${`natpush, ${sc.name}`.padEnd(42)} ${fmt(p50).padStart(6)} ${fmt(st?.p95 ?? NaN).padStart(6)} ${String(st?.n ?? 0).padStart(4)} ${fmt(p50 / floor, 2).padStart(9)} ${fmt(lj50 / p50, 2).padStart(16)}`;
        console.log(line);
        summary.push(`D=${d}: ${line.trim()}`);
      }
      if (lj) {
        const line = `  ${'libjuice (node-datachannel), first echo'.padEnd(42)} ${fmt(lj50).padStart(6)} ${fmt(lj95).padStart(6)} ${String(lj.echo.length).padStart(4)} ${fmt(lj50 / floor, 2).padStart(9)}`;
        console.log(line);
        summary.push(`D=${d}: ${line.trim()}`);
      }
      console.log(
        `  (D = ${d} ms took ${fmt((performance.now() - t0) / 1000, 1)} s; load ${load()})`,
      );
    } finally {
      await pl.destroy();
    }
  }
  console.log(
    `\nsummary (p50 p95 n p50/floor libjuice/natpush; floor 6·D; target p50/floor ≤ 1.5)`,
  );
  for (const l of summary) console.log(`  ${l}`);
  console.log(
    `load after: ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
