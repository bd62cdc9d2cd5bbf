/**
 * TURN relay benchmark: our server against coturn's `turnserver`, same machine, same load, one run.
 *
 *   npm run build && node dist/bench/relay-throughput.js [sessions=20] [messages=300] [intervalMs=1]
 *
 * 1. coturn's turnutils_uclient -y (client-to-client through channels) with `sessions` sessions
 *    of `messages` 100- and 1000-byte messages: delivered, loss, the round-trip delay uclient
 *    measures. uclient paces each session at ~50 messages/s, so this checks loss-free relaying
 *    under many sessions, not the ceiling.
 * 2. Ceiling: a flood from this process through 4 channel pairs at rising rates (10k … 160k
 *    packets/s offered, 1.5 s each); the highest rate delivered with ≤ 0.1 % loss, in packets/s
 *    and Mbit/s, and the one-way latency the relay adds over a direct loopback path at 2k/s.
 * 3. Memory per allocation: RSS of the server process before and after 1000 allocations (measured first, on fresh processes) made by
 *    our TURN client.
 * Both servers run as separate processes (ours: `natpush relay`), so the load generator's CPU is
 * not counted against either. The machine is shared: the load average is printed with the figures.
 */
import os from 'node:os';
import { nodeUdpNetwork } from '../src/net/index.js';
import { TurnClient } from '../src/relay/client/client.js';
import { runUclient, type UclientResult } from './lib/coturn.js';
import { floodPairs, offer } from './lib/relay-flood.js';
import {
  BENCH_PASS as PASS,
  BENCH_USER as USER,
  cpuSeconds,
  fmt,
  rssKiB,
  startCoturnRelay,
  startNatpushRelay,
  type BenchServer as Server,
} from './lib/relay-servers.js';
import { exitOnHelp } from './lib/bench-usage.js';

exitOnHelp(`
relay-throughput: natpush relay against coturn on the same machine: turnutils_uclient -y sessions
(delivered, loss, RTT), the loss-free ceiling of a flood through 4 channel pairs, the added
latency, and RSS per allocation.

  npm run build && node dist/bench/relay-throughput.js [sessions=20] [messages=300] [intervalMs=1]

  sessions     turnutils_uclient -y sessions
  messages     messages per session
  intervalMs   uclient's pacing interval
`);

const sessions = Number(process.argv[2] ?? 20);
const messages = Number(process.argv[3] ?? 300);
const intervalMs = Number(process.argv[4] ?? 1);
const ALLOCATIONS = 1000;
/** Allocations in flight at once while measuring memory. */
const BATCH = 25;

interface Rate {
  result: UclientResult;
  seconds: number;
  perSecond: number;
  mbps: number;
  rttMs: number;
}

async function relayedRate(s: Server, size: number): Promise<Rate> {
  const t0 = performance.now();
  const result = await runUclient(
    [
      '-y',
      '-c',
      '-m',
      String(sessions),
      '-n',
      String(messages),
      '-l',
      String(size),
      '-z',
      String(intervalMs),
      '-u',
      USER,
      '-w',
      PASS,
      '-p',
      String(s.port),
      '127.0.0.1',
    ],
    120_000,
  );
  const seconds = (performance.now() - t0) / 1000;
  const rtt = /Average round trip delay ([\d.]+) ms/.exec(result.output);
  return {
    result,
    seconds,
    perSecond: result.received / seconds,
    mbps: (result.received * size * 8) / seconds / 1e6,
    rttMs: Number(rtt?.[1] ?? NaN),
  };
}

/** One allocation, retried. */
async function allocateOne(s: Server): Promise<TurnClient> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await TurnClient.allocate({
        server: { address: '127.0.0.1', port: s.port },
        username: USER,
        password: PASS,
        net: nodeUdpNetwork,
      });
    } catch (err) {
      // coturn answers 508 until its relay ports are initialised (several seconds for a range of
      // thousands on a loaded machine), so keep trying for up to 20 s.
      if (attempt >= 80) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

async function allocate(s: Server, n: number): Promise<TurnClient[]> {
  const clients: TurnClient[] = [];
  for (let i = 0; i < n; i += BATCH) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(BATCH, n - i) }, () => allocateOne(s)),
    );
    clients.push(...batch);
  }
  return clients;
}

/** RSS growth per allocation on a fresh server, after a warm-up round (code paths, heap). */
async function memoryPerAllocation(s: Server): Promise<number> {
  await Promise.all((await allocate(s, 50)).map((c) => c.close()));
  await new Promise((r) => setTimeout(r, 300));
  const before = rssKiB(s.pid);
  const clients = await allocate(s, ALLOCATIONS);
  await new Promise((r) => setTimeout(r, 1000));
  const after = rssKiB(s.pid);
  await Promise.all(clients.map((c) => c.close()));
  return ((after - before) * 1024) / ALLOCATIONS;
}

const FLOOD_PAIRS = 4;
const FLOOD_RATES = [10_000, 20_000, 40_000, 80_000, 160_000];
const FLOOD_SECONDS = 1.5;

/** One-way delay, µs (median), of `n` packets at ~2k/s through `send` as seen by `onData`. */
async function delayMicros(
  n: number,
  send: (b: Buffer) => void,
  on: (f: (d: Uint8Array) => void) => () => void,
): Promise<number> {
  const samples: number[] = [];
  const off = on((d) => {
    const b = Buffer.from(d);
    // Only our probes: packets of the flood before may still be in flight.
    if (b.length !== 100 || b.readUInt32BE(8) !== 0xfeedface) return;
    samples.push(Number(process.hrtime.bigint() - b.readBigUInt64BE(0)) / 1000);
  });
  for (let i = 0; i < n; i++) {
    const b = Buffer.alloc(100);
    b.writeBigUInt64BE(process.hrtime.bigint(), 0);
    b.writeUInt32BE(0xfeedface, 8);
    send(b);
    if (i % 2 === 1) await new Promise((r) => setTimeout(r, 1));
  }
  await new Promise((r) => setTimeout(r, 200));
  off();
  samples.sort((x, y) => x - y);
  return samples[Math.floor(samples.length / 2)] ?? NaN;
}

async function directDelay(): Promise<number> {
  const a = await nodeUdpNetwork.bindUdp({ address: '127.0.0.1', port: 0 });
  const b = await nodeUdpNetwork.bindUdp({ address: '127.0.0.1', port: 0 });
  try {
    return await delayMicros(
      1000,
      (m) => a.send(m, b.address()),
      (f) => b.onMessage((d) => f(d)),
    );
  } finally {
    await a.close();
    await b.close();
  }
}

interface Ceiling {
  pps: number;
  mbps: number;
  delayUs: number;
  /** Server CPU per relayed packet at the best loss-free step, µs. */
  cpuUs: number;
}

async function ceiling(s: Server, size: number): Promise<Ceiling> {
  const pairs = await floodPairs(s, FLOOD_PAIRS);
  try {
    let best = 0;
    let cpuUs = NaN;
    for (const rate of FLOOD_RATES) {
      const cpu0 = cpuSeconds(s.pid);
      const [got, offered] = await offer(pairs, rate, size, FLOOD_SECONDS);
      const cpu = cpuSeconds(s.pid) - cpu0;
      const loss = 1 - got / offered;
      console.log(
        `  ${s.name.padEnd(8)} ${size} B offered ${fmt(rate)}/s: delivered ${fmt(got / FLOOD_SECONDS)}/s, ` +
          `loss ${(loss * 100).toFixed(2)} %, server CPU ${fmt((cpu / (FLOOD_SECONDS + 0.3)) * 100)} % of a core, ` +
          `${fmt((cpu * 1e6) / got, 1)} µs/packet`,
      );
      // Noise on a shared machine: every step runs; the best loss-free one counts.
      if (loss <= 0.001 && got / FLOOD_SECONDS > best) {
        cpuUs = (cpu * 1e6) / got;
        best = got / FLOOD_SECONDS;
      }
    }
    const p = pairs[0]!;
    const delayUs = await delayMicros(
      1000,
      (m) => p.a.send(p.b.relayedAddress, m),
      (f) => p.b.onData(f),
    );
    return { pps: best, mbps: (best * size * 8) / 1e6, delayUs, cpuUs };
  } finally {
    await Promise.all(pairs.flatMap((p) => [p.a.close(), p.b.close()]));
  }
}

async function main(): Promise<void> {
  console.log(
    `relay-throughput: ${sessions} sessions × ${messages} messages every ${intervalMs} ms (turnutils_uclient -y -c)`,
  );
  console.log(
    `load before: ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')} on ${os.cpus().length} cores`,
  );
  const servers = [await startNatpushRelay(), await startCoturnRelay()];
  try {
    const mem: Record<string, number> = {};
    for (const s of [...servers].reverse()) {
      mem[s.name] = await memoryPerAllocation(s);
      console.log(
        `${s.name.padEnd(8)} memory per allocation: ${fmt(mem[s.name]! / 1024, 1)} KiB (RSS delta over ${ALLOCATIONS})`,
      );
    }
    console.log(
      `ratio natpush/coturn memory per allocation: ${(mem.natpush! / mem.coturn!).toFixed(2)}`,
    );
    const rows: Record<string, Record<number, Rate>> = {};
    for (const size of [100, 1000]) {
      for (const s of servers) {
        const r = await relayedRate(s, size);
        (rows[s.name] ??= {})[size] = r;
        console.log(
          `${s.name.padEnd(8)} ${String(size).padStart(5)} B: ${fmt(r.result.received)}/${fmt(r.result.sent)} delivered, ` +
            `lost ${r.result.lost}, ${fmt(r.perSecond)} msg/s, ${fmt(r.mbps, 1)} Mbit/s, rtt ${fmt(r.rttMs, 2)} ms, ${fmt(r.seconds, 1)} s`,
        );
      }
      const ours = rows.natpush![size]!;
      const theirs = rows.coturn![size]!;
      console.log(
        `ratio natpush/coturn ${size} B: ${(ours.perSecond / theirs.perSecond).toFixed(2)} (msg/s), rtt +${fmt(ours.rttMs - theirs.rttMs, 2)} ms`,
      );
    }
    const direct = await directDelay();
    console.log(`direct loopback one-way delay (median): ${fmt(direct)} µs`);
    for (const size of [100, 1000]) {
      const c: Record<string, Ceiling> = {};
      for (const srv of servers) {
        c[srv.name] = await ceiling(srv, size);
        const x = c[srv.name]!;
        console.log(
          `${srv.name.padEnd(8)} ${String(size).padStart(5)} B ceiling: ${fmt(x.pps)} packets/s loss-free (≤0.1 %), ${fmt(x.mbps, 1)} Mbit/s; ` +
            `server CPU ${fmt(x.cpuUs, 1)} µs/packet (≈ ${fmt(1e6 / x.cpuUs)} packets/s per core); ` +
            `one-way delay ${fmt(x.delayUs)} µs (+${fmt(x.delayUs - direct)} µs over direct)`,
        );
      }
      console.log(
        `ratio natpush/coturn ${size} B loss-free packets/s: ${(c.natpush!.pps / c.coturn!.pps).toFixed(2)}`,
      );
    }
  } finally {
    for (const s of servers) await s.stop();
  }
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
