/**
 * CPU of the STUN server's own JavaScript per Binding request: StunServer on a UdpNetwork whose
 * sockets send nowhere, fed bare Binding requests (what browsers send) straight into its message
 * listener. The kernel and node:dgram are left out on purpose: under `stun-vs-coturn` they are
 * ~90 % of the busy time (sendmsg, recvmsg, node:dgram's per-datagram buffers), which hides a
 * change in our own path in the noise of a shared machine. This measures only what our code
 * does, in one process, alternating two builds in the same run.
 *
 *   npm run build && node dist/bench/stun-handler-cost.js [--requests 2000000] [--rounds 5]
 *     [--baseline OTHER/dist]   (another build of natpush: the code before a change)
 *
 * Prints µs of CPU (user + system) per request for each build and round, and the medians.
 */
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Endpoint, UdpNetwork, UdpSocket } from '../src/net/index.js';
import { benchArg, loadAverage } from './lib/relay-servers.js';

const REQUESTS = Number(benchArg('requests', '2000000'));
const ROUNDS = Number(benchArg('rounds', '5'));
const BASELINE = benchArg('baseline', '');

type Listener = (data: Uint8Array, from: Endpoint) => void;

/** One build's StunServer behind a null network; returns a function that feeds it n requests. */
async function harness(dist: string): Promise<(n: number) => number> {
  const stun = (await import(pathToFileURL(`${dist}/src/stun/server.js`).href)) as {
    StunServer: { start(o: unknown): Promise<unknown> };
  };
  let listener: Listener | undefined;
  let sent = 0;
  const net: UdpNetwork = {
    bindUdp: (o = {}) =>
      Promise.resolve({
        closed: false,
        address: () => ({ address: o.address ?? '127.0.0.1', port: o.port || 3478 }),
        send: () => void sent++,
        onMessage: (l: Listener) => ((listener = l), () => {}),
        onError: () => () => {},
        close: () => Promise.resolve(),
      } as unknown as UdpSocket),
  };
  await stun.StunServer.start({
    listen: { address: '127.0.0.1', port: 3478 },
    net,
    rateLimit: { perSecond: 1e12, burst: 1e12 },
    replyBytesPerSecond: 1e15,
  });
  // A bare Binding request per 16 sources, as node:dgram hands them over (rinfo objects).
  const req = Buffer.from('000100002112a442000102030405060708090a0b', 'hex');
  const sources = Array.from({ length: 16 }, (_, i) => ({
    address: '127.0.0.1',
    port: 40_000 + i,
    family: 'IPv4' as const,
    size: 20,
  }));
  return (n: number): number => {
    const before = sent;
    const cpu0 = process.cpuUsage();
    for (let i = 0; i < n; i++) listener!(Buffer.from(req), sources[i & 15]!);
    const cpu = process.cpuUsage(cpu0);
    if (sent - before !== n) throw new Error(`answered ${sent - before} of ${n}`);
    return (cpu.user + cpu.system) / n;
  };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const here = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');
  const builds: [string, (n: number) => number][] = [['this build', await harness(here)]];
  if (BASELINE) builds.push(['baseline', await harness(BASELINE.replace(/\/$/, ''))]);
  console.log(
    `stun-handler-cost: ${REQUESTS} bare Binding requests per round, ${ROUNDS} rounds; load ${loadAverage()}`,
  );
  // Warm-up: let V8 optimise both before anything is counted.
  for (const [, run] of builds) run(Math.min(REQUESTS, 200_000));
  const results = new Map<string, number[]>(builds.map(([name]) => [name, []]));
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, run] of r % 2 === 0 ? builds : [...builds].reverse()) {
      const us = run(REQUESTS);
      results.get(name)!.push(us);
      console.log(`  round ${r + 1} ${name.padEnd(10)} ${us.toFixed(3)} µs CPU per request`);
    }
  }
  for (const [name, xs] of results) console.log(`median ${name}: ${median(xs).toFixed(3)} µs`);
  if (BASELINE) {
    const ratio = median(results.get('this build')!) / median(results.get('baseline')!);
    console.log(`this build / baseline: ${ratio.toFixed(2)}`);
  }
  console.log(`load after: ${loadAverage()}`);
}

await main();
