/**
 * Server CPU per relayed packet, natpush relay and coturn side by side, at a fixed offered rate
 * below either's limit (so the figure is cost, not saturation; less sensitive to a shared
 * machine than a ceiling). Two paths:
 *
 *   turn↔turn  client A ─ChannelData→ relay ─→ B's relayed address ─→ relay ─ChannelData→ client B
 *              (both peers on the same relay: the usual WebRTC case, uclient -y's case)
 *   to-peer    client A ─ChannelData→ relay ─UDP→ a plain socket (the peer is not on the relay)
 *
 *   npm run build && node dist/bench/relay-packet-cost.js [--rate 15000] [--seconds 3] [--rounds 3]
 *     [--baseline-main OTHER/dist/src/cli/main.js]   (another natpush build as a third server)
 *
 * Rounds alternate the servers' order (A B, B A, …). Prints per server and path the median over rounds of µs of server CPU (user + system, all
 * threads, from /proc) per delivered packet, and the loss.
 */
import { nodeUdpNetwork, type UdpSocket } from '../src/net/index.js';
import { TurnClient } from '../src/relay/client/client.js';
import { floodPairs, offer, pace, type Pair } from './lib/relay-flood.js';
import {
  BENCH_PASS,
  BENCH_USER,
  benchArg,
  cpuSeconds,
  fmt,
  loadAverage,
  median,
  startCoturnRelay,
  startNatpushRelay,
  type BenchServer,
} from './lib/relay-servers.js';
import { exitOnHelp } from './lib/bench-usage.js';

exitOnHelp(`
relay-packet-cost: server CPU per relayed packet, natpush relay and coturn side by side, at a fixed
offered rate below either's limit (turn<->turn: both clients on the relay; to-peer: the peer is a
plain socket). Prints the median over rounds of µs of server CPU per delivered packet, the loss and
the load average.

  npm run build && node dist/bench/relay-packet-cost.js [--rate 15000] [--seconds 3] [--rounds 3]
    [--baseline-main OTHER/dist/src/cli/main.js]

  --rate           packets/s offered (100 B each, over 4 channel pairs)
  --seconds        length of each measurement
  --rounds         rounds, alternating the servers
  --baseline-main  another natpush build as a third server (the code before a change)
`);

const arg = (name: string, dflt: number): number => Number(benchArg(name, String(dflt)));
const RATE = arg('rate', 15_000);
const SECONDS = arg('seconds', 3);
const ROUNDS = arg('rounds', 3);
const SIZE = 100;
const PAIRS = 4;

interface Sample {
  usPerPacket: number;
  lossPct: number;
}

async function measure(s: BenchServer, run: () => Promise<[number, number]>): Promise<Sample> {
  const cpu0 = cpuSeconds(s.pid);
  const [got, offered] = await run();
  const cpu = cpuSeconds(s.pid) - cpu0;
  return { usPerPacket: (cpu * 1e6) / got, lossPct: (1 - got / offered) * 100 };
}

/** Allocations whose channel leads to a plain UDP socket of this process. */
async function toPeer(s: BenchServer): Promise<{ clients: TurnClient[]; sink: UdpSocket }> {
  const sink = await nodeUdpNetwork.bindUdp({ address: '127.0.0.1', port: 0 });
  const clients = await Promise.all(
    Array.from({ length: PAIRS }, () =>
      TurnClient.allocate({
        server: { address: '127.0.0.1', port: s.port },
        username: BENCH_USER,
        password: BENCH_PASS,
        net: nodeUdpNetwork,
      }),
    ),
  );
  for (const c of clients) await c.bindChannel(sink.address());
  return { clients, sink };
}

async function offerToPeer(
  clients: TurnClient[],
  sink: UdpSocket,
  rate: number,
  seconds: number,
): Promise<[number, number]> {
  let got = 0;
  const off = sink.onMessage(() => got++);
  const payload = Buffer.alloc(SIZE, 7);
  const to = sink.address();
  const total = await pace(rate, seconds, (i) => clients[i % clients.length]!.send(to, payload));
  off();
  return [got, total];
}

async function main(): Promise<void> {
  const load = loadAverage;
  console.log(
    `relay-packet-cost: ${fmt(RATE)} packets/s of ${SIZE} B offered for ${SECONDS} s, ${ROUNDS} rounds; load ${load()}`,
  );
  const baseline = benchArg('baseline-main', '');
  const servers = [await startCoturnRelay(), await startNatpushRelay()];
  if (baseline) servers.push(await startNatpushRelay([], baseline, 'natpush@baseline'));
  const rows: Record<string, Record<string, Sample[]>> = {};
  try {
    const paths = await Promise.all(
      servers.map(async (s) => ({ s, pairs: await floodPairs(s, PAIRS), peer: await toPeer(s) })),
    );
    for (let round = 0; round < ROUNDS; round++) {
      // A B …, then … B A: each server runs early in a round as often as late (shared machine).
      for (const { s, pairs, peer } of round % 2 === 0 ? paths : [...paths].reverse()) {
        const r = (rows[s.name] ??= { 'turn↔turn': [], 'to-peer': [] });
        r['turn↔turn']!.push(await measure(s, () => offer(pairs, RATE, SIZE, SECONDS)));
        r['to-peer']!.push(
          await measure(s, () => offerToPeer(peer.clients, peer.sink, RATE, SECONDS)),
        );
      }
    }
    await Promise.all(
      paths.flatMap(
        ({ pairs, peer }: { pairs: Pair[]; peer: { clients: TurnClient[]; sink: UdpSocket } }) => [
          ...pairs.flatMap((p) => [p.a.close(), p.b.close()]),
          ...peer.clients.map((c) => c.close()),
          peer.sink.close(),
        ],
      ),
    );
  } finally {
    for (const s of servers) await s.stop();
  }
  for (const path of ['turn↔turn', 'to-peer']) {
    const cost: Record<string, number> = {};
    for (const s of servers) {
      const xs = rows[s.name]![path]!;
      cost[s.name] = median(xs.map((x) => x.usPerPacket));
      console.log(
        `  ${path.padEnd(9)} ${s.name.padEnd(16)} ${fmt(cost[s.name]!, 1)} µs CPU/packet (rounds: ${xs
          .map((x) => fmt(x.usPerPacket, 1))
          .join(', ')}), loss ${xs.map((x) => x.lossPct.toFixed(2)).join(', ')} %`,
      );
    }
    const base = cost['natpush@baseline'];
    console.log(
      `  ${path.padEnd(9)} natpush/coturn cost: ${(cost.natpush! / cost.coturn!).toFixed(2)}` +
        (base !== undefined
          ? `; natpush@baseline/coturn: ${(base / cost.coturn!).toFixed(2)}`
          : ''),
    );
  }
  console.log(`load after: ${load()}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
