/**
 * A flood through a TURN server from this process: pairs of allocations with a channel each way,
 * and packets offered at a fixed rate from A to B of each pair (ChannelData both hops: client →
 * relay → peer's relayed address → its client).
 */
import { nodeUdpNetwork } from '../../src/net/index.js';
import { TurnClient } from '../../src/relay/client/client.js';
import { BENCH_PASS, BENCH_USER, type BenchServer } from './relay-servers.js';

export interface Pair {
  a: TurnClient;
  b: TurnClient;
}

export async function floodPairs(s: BenchServer, count: number): Promise<Pair[]> {
  const server = { address: '127.0.0.1', port: s.port };
  const pairs: Pair[] = [];
  for (let i = 0; i < count; i++) {
    const [a, b] = await Promise.all(
      [0, 1].map(() =>
        TurnClient.allocate({
          server,
          username: BENCH_USER,
          password: BENCH_PASS,
          net: nodeUdpNetwork,
        }),
      ),
    );
    await a!.bindChannel(b!.relayedAddress);
    await b!.bindChannel(a!.relayedAddress);
    pairs.push({ a: a!, b: b! });
  }
  return pairs;
}

/** Call `send(i)` for i = 0 … rate × seconds − 1, paced at `rate` per second; returns the count. */
export async function pace(
  rate: number,
  seconds: number,
  send: (i: number) => void,
): Promise<number> {
  const start = performance.now();
  const total = Math.round(rate * seconds);
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.round(((performance.now() - start) / 1000) * rate));
    for (; sent < due; sent++) send(sent);
    await new Promise((r) => setImmediate(r));
  }
  // Let the last packets arrive before the count is read.
  await new Promise((r) => setTimeout(r, 300));
  return total;
}

/** Offer `rate` packets/s of `size` bytes for `seconds`; returns [delivered, offered]. */
export async function offer(
  pairs: Pair[],
  rate: number,
  size: number,
  seconds: number,
): Promise<[number, number]> {
  let got = 0;
  const offs = pairs.map((p) => p.b.onData(() => got++));
  const payload = Buffer.alloc(size, 7);
  const total = await pace(rate, seconds, (i) => {
    const p = pairs[i % pairs.length]!;
    p.a.send(p.b.relayedAddress, payload);
  });
  for (const off of offs) off();
  return [got, total];
}
