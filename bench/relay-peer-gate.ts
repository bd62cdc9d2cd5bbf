/**
 * What the fleet relay's peer gate (src/cluster/relay-peer-gate.ts) costs a CreatePermission:
 * `natpush relay --redis` composed in this process (createRelay) on a throwaway redis-server
 * (unix socket), with the gate and with --no-peer-gate, one client sending CreatePermission
 * requests one after another on loopback. Three kinds with the gate: a verdict Redis must give
 * (a new address each time: one round trip, refused), a cached grant (the same address), and
 * without the gate (no Redis at all). Prints the median and p99 request time per kind.
 *
 *   npm run build && node dist/bench/relay-peer-gate.js [--requests 400]
 */
import { startRedis } from './lib/cluster-redis.js';
import { ClusterKeys } from '../src/cluster/keys.js';
import { RendezvousPairs } from '../src/cluster/rendezvous-pairs.js';
import { nodeUdpNetwork } from '../src/net/index.js';
import { TurnClient, mintTurnCredentials } from '../src/relay/index.js';
import { createRelay, type Relay } from '../src/server/create-relay.js';
import { silentLogger } from '../src/util/logger.js';
import { benchArg, loadAverage } from './lib/relay-servers.js';
import { exitOnHelp } from './lib/bench-usage.js';

exitOnHelp(`
relay-peer-gate: what the fleet relay's peer gate costs a CreatePermission (natpush relay --redis
in this process, a throwaway redis-server): a verdict Redis must give, a cached grant, and no gate.
Prints the median and p99 request time per kind.

  npm run build && node dist/bench/relay-peer-gate.js [--requests 400]

  --requests   CreatePermission requests per kind
`);

const N = Number(benchArg('requests', '400'));
const SECRET = 'bench-gate';

async function client(r: Relay, user: string): Promise<TurnClient> {
  return TurnClient.allocate({
    server: { address: '127.0.0.1', port: r.addresses().udp.port },
    ...mintTurnCredentials(SECRET, user, 3600, Date.now()),
    net: nodeUdpNetwork,
  });
}

async function timed(n: number, ip: (i: number) => string, c: TurnClient): Promise<number[]> {
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await c.createPermission(ip(i)).catch(() => {});
    ms.push(performance.now() - t);
  }
  return ms.sort((a, b) => a - b);
}

const q = (s: number[], p: number): string => s[Math.floor((s.length - 1) * p)]!.toFixed(3);

async function main(): Promise<void> {
  console.log(
    `relay-peer-gate: ${N} CreatePermission per kind, one at a time; load ${loadAverage()}`,
  );
  const redis = await startRedis();
  try {
    await redis.client().hset(new ClusterKeys().peers, 'alice', 'k', 'bob', 'k');
    // In rendezvous, as a serve node writes it: the gate grants alice only toward bob.
    await new RendezvousPairs({ redis: redis.client(), keys: new ClusterKeys() }).write(
      'alice',
      'bob',
    );
    for (const gate of [true, false]) {
      const r = await createRelay(
        {
          listen: '127.0.0.1',
          port: 0,
          secret: SECRET,
          'allow-loopback-peers': true,
          redis: redis.url,
          'peer-gate': gate,
          'log-level': 'error',
        },
        { logger: silentLogger },
      );
      const alice = await client(r, 'alice');
      const bob = await client(r, 'bob'); // seen at 127.0.0.1
      try {
        // 127.1.x.y: allowed by the address policy, never seen for a peer.
        const fresh = (i: number): string => `127.1.${i >> 8}.${i & 255}`;
        const kinds: [string, number[]][] = gate
          ? [
              ['gate, Redis lookup (refused)', await timed(N, fresh, alice)],
              ['gate, cached grant', await timed(N, () => '127.0.0.1', alice)],
            ]
          : [['--no-peer-gate', await timed(N, fresh, alice)]];
        for (const [name, s] of kinds) {
          console.log(`  ${name.padEnd(30)} median ${q(s, 0.5)} ms, p99 ${q(s, 0.99)} ms`);
        }
      } finally {
        await Promise.all([alice.close(), bob.close()]);
        await r.close();
      }
    }
  } finally {
    await redis.stop();
  }
  console.log(`load after: ${loadAverage()}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
