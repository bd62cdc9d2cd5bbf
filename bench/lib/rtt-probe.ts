/**
 * Added delay, measured beside the load: one more pair of allocations on the server under test,
 * A pinging B over channels every PROBE_INTERVAL_MS and B echoing (4 relay hops per round trip,
 * the same for both servers). uclient prints its own average RTT only after a ~10 s ending, which
 * the load step cuts short; this probe also sees the delay while the load runs, not after.
 */
import { nodeUdpNetwork } from '../../src/net/index.js';
import { TurnClient } from '../../src/relay/client/client.js';
import { BENCH_PASS, BENCH_USER } from './relay-servers.js';
import { median } from './relay-servers.js';

const PROBE_INTERVAL_MS = 10;

export interface RttProbe {
  /** Start a window; `stop` returns the median round trip, ms, of the pings sent within
   *  [from, to] (performance.now() times; default: all of them). Lost pings are not counted. */
  start(): void;
  stop(from?: number, to?: number): number;
  close(): Promise<void>;
}

export async function rttProbe(port: number): Promise<RttProbe> {
  const server = { address: '127.0.0.1', port };
  const opts = { server, username: BENCH_USER, password: BENCH_PASS, net: nodeUdpNetwork };
  const [a, b] = await Promise.all([TurnClient.allocate(opts), TurnClient.allocate(opts)]);
  await a.bindChannel(b.relayedAddress);
  await b.bindChannel(a.relayedAddress);
  b.onData((data) => b.send(a.relayedAddress, data));
  const sentAt = new Map<number, number>();
  let rtts: { at: number; ms: number }[] = [];
  a.onData((data) => {
    const seq = Buffer.from(data.buffer, data.byteOffset, data.length).readUInt32BE(0);
    const t = sentAt.get(seq);
    if (t === undefined) return;
    sentAt.delete(seq);
    rtts.push({ at: t, ms: performance.now() - t });
  });
  let seq = 0;
  let timer: NodeJS.Timeout | undefined;
  return {
    start() {
      rtts = [];
      sentAt.clear();
      timer = setInterval(() => {
        const ping = Buffer.alloc(100);
        ping.writeUInt32BE(++seq >>> 0, 0);
        sentAt.set(seq, performance.now());
        a.send(b.relayedAddress, ping);
      }, PROBE_INTERVAL_MS);
    },
    stop(from = -Infinity, to = Infinity) {
      clearInterval(timer);
      const inWindow = rtts.filter((r) => r.at >= from && r.at <= to).map((r) => r.ms);
      return inWindow.length ? median(inWindow) : NaN;
    },
    async close() {
      clearInterval(timer);
      await Promise.all([a.close(), b.close()]);
    },
  };
}

/**
 * RSS per allocation: `count` allocations held open on the server (each with a channel bound to
 * a peer, as a call has), then `count` more, created `concurrency` at a time; the server tree's
 * RSS is read after each half. The figure is the slope over the second half: the first pays the
 * one-time growth (a runtime's young generation and allocator arenas grow with the churn of any
 * burst of requests), which is not a per-allocation cost. Returns KiB per allocation; the
 * allocations are closed again.
 */
export async function rssPerAllocation(
  port: number,
  count: number,
  readRssKiB: () => number,
): Promise<number> {
  const server = { address: '127.0.0.1', port };
  const opts = { server, username: BENCH_USER, password: BENCH_PASS, net: nodeUdpNetwork };
  const sink = await nodeUdpNetwork.bindUdp({ address: '127.0.0.1', port: 0 });
  const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 1500));
  const held: TurnClient[] = [];
  const CONCURRENCY = 50;
  const hold = async (n: number): Promise<void> => {
    const until = held.length + n;
    while (held.length < until) {
      const k = Math.min(CONCURRENCY, until - held.length);
      const batch = await Promise.all(Array.from({ length: k }, () => TurnClient.allocate(opts)));
      held.push(...batch);
      await Promise.all(batch.map((c) => c.bindChannel(sink.address())));
    }
    await settle();
  };
  try {
    await hold(count);
    const before = readRssKiB();
    await hold(count);
    return (readRssKiB() - before) / count;
  } finally {
    await Promise.all(held.map((c) => c.close()));
    await sink.close();
  }
}
