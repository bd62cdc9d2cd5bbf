/**
 * CPU of the TURN server's own JavaScript per relayed packet: TurnServer on the in-memory network
 * for setup (allocations, permissions, channels made by our TurnClient), then packets fed straight
 * into the server's message listeners with every send counted instead of delivered. The kernel and
 * node:dgram are left out on purpose (most of a relayed packet's CPU under `relay-packet-cost`,
 * where a change in our path drowns in the noise of a shared machine); what is left is what our
 * code does per packet, one build against another in the same process, rounds alternating.
 *
 *   npm run build && node dist/bench/relay-handler-cost.js [--packets 1000000] [--rounds 4]
 *     [--baseline OTHER/dist]   (another build of natpush: the code before a change)
 *
 * Paths, as a relayed packet takes them (RFC 8656 §11–§12):
 *   turn↔turn   ChannelData from client A to B's relayed address, both on this server: handed
 *               over in-process, out as ChannelData to B (the WebRTC case, uclient -y's)
 *   to-peer     ChannelData from a client to a peer on the internet, out of its relayed socket
 *   send-ind    a Send indication from a client to that peer
 *   from-peer   a datagram from the peer on the relayed socket, out as ChannelData (bound channel)
 *   data-ind    a datagram from a peer with a permission but no channel, out as a Data indication
 *
 * Each packet arrives as node:dgram hands it over: a buffer of its own and a fresh rinfo whose
 * address is a new string. Prints µs of CPU (user + system) per packet per build, path and round,
 * the medians, the ratio to the baseline, and the load average.
 */
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Endpoint, UdpNetwork, UdpSocket } from '../src/net/index.js';
import { MemoryNetwork } from '../src/net/index.js';
import { TurnClient } from '../src/relay/client/client.js';
import { mintTurnCredentials, sharedSecret } from '../src/relay/credentials.js';
import { Attr, Method, StunClass, StunMessageBuilder } from '../src/stun/index.js';
import { systemClock } from '../src/util/clock.js';
import { exitOnHelp } from './lib/bench-usage.js';
import { benchArg, loadAverage, median } from './lib/relay-servers.js';

exitOnHelp(`
relay-handler-cost: CPU of the TURN server's own JavaScript per relayed packet (no kernel, no
node:dgram): TurnServer on the in-memory network, packets fed straight into its listeners, sends
counted. Paths: turn<->turn, to-peer, send-ind, from-peer, data-ind. Prints µs CPU per packet per
build, path and round, the medians, the ratio to the baseline and the load average.

  npm run build && node dist/bench/relay-handler-cost.js [--packets 1000000] [--rounds 4]
    [--baseline OTHER/dist]

  --packets    packets per path per round
  --rounds     rounds (builds alternate: A B B A …)
  --baseline   another build's dist/ (the code before a change), measured in the same rounds
`);

const PACKETS = Number(benchArg('packets', '1000000'));
const ROUNDS = Number(benchArg('rounds', '4'));
const BASELINE = benchArg('baseline', '');
const SECRET = 'bench-secret';
const SERVER: Endpoint = { address: '203.0.113.1', port: 3478 };
const PEER: Endpoint = { address: '198.51.100.20', port: 5000 };
const PEER2: Endpoint = { address: '198.51.100.21', port: 5000 };
const PATHS = ['turn↔turn', 'to-peer', 'send-ind', 'from-peer', 'data-ind'] as const;
type Path = (typeof PATHS)[number];

type Listener = (data: Uint8Array, from: Endpoint) => void;

/** A network whose sockets keep their message listeners at hand and, once `counting`, count
 *  what they send instead of sending it. */
function tapped(inner: UdpNetwork): {
  net: UdpNetwork;
  sockets: { socket: UdpSocket; listeners: Listener[] }[];
  counting: { on: boolean; sent: number };
} {
  const sockets: { socket: UdpSocket; listeners: Listener[] }[] = [];
  const counting = { on: false, sent: 0 };
  const net: UdpNetwork = {
    async bindUdp(o) {
      const s = await inner.bindUdp(o);
      const listeners: Listener[] = [];
      const wrapped: UdpSocket = {
        get closed() {
          return s.closed;
        },
        address: () => s.address(),
        send: (d, to) => (counting.on ? void counting.sent++ : s.send(d, to)),
        onMessage: (l) => (listeners.push(l), s.onMessage(l)),
        onError: (l) => s.onError(l),
        close: () => s.close(),
      };
      sockets.push({ socket: wrapped, listeners });
      return wrapped;
    },
  };
  return { net, sockets, counting };
}

/** A copy of `s` that is a new string, as node:dgram makes rinfo.address per datagram. */
const fresh = (s: string): string => (' ' + s).slice(1);

interface Harness {
  run(path: Path, n: number): number;
}

/** One build's TurnServer with two clients on it and peers on the internet. */
async function harness(dist: string): Promise<Harness> {
  const mod = (await import(pathToFileURL(`${dist}/src/relay/server/turn-server.js`).href)) as {
    createRelayServer(o: unknown): Promise<{ close(): Promise<void>; counters: unknown }>;
  };
  const net = new MemoryNetwork({ clock: systemClock });
  const tap = tapped(net.addHost({ addresses: [SERVER.address] }));
  await mod.createRelayServer({
    net: tap.net,
    clock: systemClock,
    listenAddress: SERVER.address,
    port: SERVER.port,
    relayAddress: SERVER.address,
    credentials: sharedSecret(SECRET),
  });
  const allocate = (host: string): Promise<TurnClient> =>
    TurnClient.allocate({
      server: SERVER,
      ...mintTurnCredentials(SECRET, host, 3600, Date.now()),
      net: net.addHost({ addresses: [host] }),
    });
  const [a, b] = await Promise.all([allocate('198.51.100.2'), allocate('198.51.100.3')]);
  await Promise.all([
    a!.bindChannel(b!.relayedAddress),
    b!.bindChannel(a!.relayedAddress),
    a!.bindChannel(PEER),
    a!.createPermission(PEER2.address),
  ]);
  const chAB = await a!.bindChannel(b!.relayedAddress);
  const chAP = await a!.bindChannel(PEER);
  const listener = tap.sockets[0]!.listeners[0]!;
  // A's relayed socket: the one bound at its relayed port.
  const relayedA = tap.sockets.find((s) => s.socket.address().port === a!.relayedAddress.port)!;
  const onRelayedA = relayedA.listeners[0]!;
  const client = a!.mappedAddress;
  const payload = Buffer.alloc(100, 7);
  const frame = (ch: number): Buffer => {
    const f = Buffer.alloc(4 + payload.length);
    f.writeUInt16BE(ch, 0);
    f.writeUInt16BE(payload.length, 2);
    payload.copy(f, 4);
    return f;
  };
  const packets: Record<Path, [Uint8Array, Endpoint, Listener]> = {
    'turn↔turn': [frame(chAB), client, listener],
    'to-peer': [frame(chAP), client, listener],
    'send-ind': [
      StunMessageBuilder.of(Method.Send, StunClass.Indication)
        .addXorAddress(Attr.XorPeerAddress, PEER)
        .addBytes(Attr.Data, payload)
        .build(),
      client,
      listener,
    ],
    'from-peer': [payload, PEER, onRelayedA],
    'data-ind': [payload, PEER2, onRelayedA],
  };
  tap.counting.on = true;
  return {
    run(path, n) {
      const [bytes, from, l] = packets[path];
      const before = tap.counting.sent;
      const cpu0 = process.cpuUsage();
      for (let i = 0; i < n; i++) {
        l(Buffer.from(bytes), {
          address: fresh(from.address),
          port: from.port,
          family: 'IPv4',
          size: bytes.length,
        } as Endpoint);
      }
      const cpu = process.cpuUsage(cpu0);
      const sent = tap.counting.sent - before;
      if (sent !== n) throw new Error(`${dist} ${path}: relayed ${sent} of ${n}`);
      return (cpu.user + cpu.system) / n;
    },
  };
}

async function main(): Promise<void> {
  const here = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');
  const builds: [string, Harness][] = [['this build', await harness(here)]];
  if (BASELINE) builds.push(['baseline', await harness(BASELINE.replace(/\/$/, ''))]);
  console.log(
    `relay-handler-cost: ${PACKETS} packets of 100 B per path and round, ${ROUNDS} rounds; load ${loadAverage()}`,
  );
  // Warm-up: let V8 optimise every path of every build before anything is counted.
  for (const [, h] of builds) for (const p of PATHS) h.run(p, Math.min(PACKETS, 100_000));
  const results = new Map<string, number[]>();
  for (let r = 0; r < ROUNDS; r++) {
    // A B, then B A: each build runs first as often as second.
    for (const [name, h] of r % 2 === 0 ? builds : [...builds].reverse()) {
      const line: string[] = [];
      for (const p of PATHS) {
        const us = h.run(p, PACKETS);
        const k = `${name}|${p}`;
        results.set(k, [...(results.get(k) ?? []), us]);
        line.push(`${p} ${us.toFixed(3)}`);
      }
      console.log(`  round ${r + 1} ${name.padEnd(10)} µs/packet: ${line.join(', ')}`);
    }
  }
  for (const p of PATHS) {
    const cur = median(results.get(`this build|${p}`)!);
    const base = BASELINE ? median(results.get(`baseline|${p}`)!) : NaN;
    console.log(
      `  ${p.padEnd(10)} this build ${cur.toFixed(3)} µs` +
        (BASELINE ? `, baseline ${base.toFixed(3)} µs, ratio ${(cur / base).toFixed(2)}` : ''),
    );
  }
  console.log(`load after: ${loadAverage()}`);
  process.exit(0); // the servers and clients are not closed: nothing else runs after this
}

await main();
