/**
 * `createRelay(options)`: the TURN relay as `natpush relay` runs it — one process, or `workers`
 * processes (issue 10):
 *
 * - `reuseport` (default): every worker binds the same UDP port with SO_REUSEPORT; the kernel
 *   hashes each client 5-tuple to one worker, so an allocation, its permissions and channels and
 *   its ChannelData all stay in one process and any standard client (turnutils_uclient, libjuice,
 *   browsers) uses every core without being redirected. TCP connections are spread by the
 *   primary (node:cluster round robin, on every Node version); a connection stays on the worker
 *   that took it. SO_REUSEPORT comes from the udp_mmsg addon (`--udp-io mmsg`, the default: any
 *   Node) or dgram's reusePort (Node >= 22.12); with neither, NATPUSH_ERR_WORKERS_UNSUPPORTED
 *   (workers/runtime.ts udpPortShareUnavailable).
 * - `redirect`: the primary runs a director that answers every Allocate with 300 Try Alternate
 *   (RFC 8489 §10, RFC 8656 §7.2) toward a worker on a port of its own; only clients that follow
 *   ALTERNATE-SERVER can use it. Works on Node 20.
 *
 * Allocation quotas (--max-allocations, --user-quota, --ip-quota) are whole-server in both modes:
 * the primary keeps the counts (workers/ledger.ts). Bandwidth caps (--total-bps, --user-bps) are
 * split evenly over the workers (the kernel spreads clients evenly; a per-packet IPC round trip
 * would cost more than the relaying).
 *
 * When a worker dies it is replaced. Its own clients' allocations died with it: their next
 * request gets 437 Allocation Mismatch and they allocate again (RFC 8656 §7.2). The SO_REUSEPORT
 * group changes too (Linux keeps its sockets in bind order and moves the last into a closed one's
 * slot), so the kernel may now deliver a SURVIVING worker's clients to the replacement: it hands
 * their datagrams to the worker that holds their allocation (relay/server/siblings.ts, over IPC
 * through the primary; it knows the others' clients from the moment it binds the port,
 * workers/mirror-cache.ts), which answers from its own socket on the same port. Those clients
 * see no change; each of their packets costs two IPC hops from then on (bounded,
 * OWNER_HANDOFF_BYTES_PER_SECOND) until they allocate again.
 */
import type { TurnServer, TurnServerAddresses } from '../relay/index.js';
import { createRelayServer } from '../relay/index.js';
import { jsonLogger, type Logger } from '../util/logger.js';
import type { RelayRegistration } from '../cluster/relay-registration.js';
import type { FleetPeerGate } from '../cluster/relay-peer-gate.js';
import { optionError, SERVER_ERR } from './errors.js';
import { parseOptions } from './options-schema.js';
import { relayCredentials, relaySecret, relayUsers } from './relay-credentials.js';
import {
  defaultRelayAddress,
  relaySchema,
  turnServerOptions,
  type RelayArgs,
  type RelayDeps,
  type RelayOptions,
} from './relay-options.js';
import { withMetrics, type MetricsEndpoint } from './metrics-http.js';
import { relayMetrics } from './server-metrics.js';
import { AllocationLedger } from './workers/ledger.js';
import { mergeCounters } from './workers/merge.js';
import { onPickedPort } from './workers/port-pick.js';
import { WorkerPool } from './workers/pool.js';
import { udpPortShareUnavailable, WORKER_MAIN } from './workers/runtime.js';

export interface Relay {
  /** Where clients reach the relay (the shared port, or the director). */
  addresses(): TurnServerAddresses;
  /** The server in this process: the relay itself (1 worker) or the director (redirect mode). */
  readonly server?: TurnServer;
  /** The worker processes (workers > 1). */
  readonly pool?: WorkerPool;
  /** The whole server's counters (every worker's summed) and allocations held. */
  counters(): Promise<Record<string, unknown>>;
  /** `/metrics` (with --metrics-port). */
  metrics?: MetricsEndpoint;
  /** Its membership of the serve cluster (with --redis; src/cluster/relay-registration.ts). */
  registration?: RelayRegistration;
  close(): Promise<void>;
}

/** What a relay worker is told over IPC (`start`): options with its secrets already resolved. */
export interface RelayWorkerConfig {
  options: RelayOptions;
  /** The shared UDP port (reuseport) or 0: pick a port of its own for UDP and TCP (redirect). */
  port: number;
  tcpPort?: number;
  share?: 'reuseport';
  /** Bandwidth caps are divided by this. */
  workers: number;
}

export async function createRelay(
  args: RelayArgs | RelayOptions,
  deps: RelayDeps = {},
): Promise<Relay> {
  const parsed = parseOptions(relaySchema, args as Record<string, unknown>);
  // $NATPUSH_REDIS_URL as --redis, resolved here: workers get it in their options (IPC).
  const redis = parsed.redis ?? deps.env?.NATPUSH_REDIS_URL;
  const o = redis === undefined ? parsed : { ...parsed, redis };
  const relay = await withMetrics(await compose(o, deps), 'natpush_relay', relayMetrics, o);
  // Issue 12: with --redis the relay registers with the serve cluster (src/cluster). Loaded only
  // then: the cluster code brings ioredis, +24 MiB RSS in every relay process that never uses it.
  if (o.redis === undefined) return relay;
  const { joinRelayFleet } = await import('../cluster/relay-join.js');
  const logger = deps.logger ?? jsonLogger(o['log-level']);
  return joinRelayFleet(relay, o, { ...(deps.env ? { env: deps.env } : {}), logger });
}

async function compose(o: RelayOptions, deps: RelayDeps): Promise<Relay> {
  const logger = deps.logger ?? jsonLogger(o['log-level']);
  if (o.workers === 1) return single(o, { ...deps, logger });
  const unshared = o['workers-mode'] === 'reuseport' && udpPortShareUnavailable(o['udp-io']);
  if (unshared) {
    throw optionError(
      `--workers ${o.workers} binds one UDP port in every worker with SO_REUSEPORT, which this ` +
        `runtime cannot set: ${unshared}. Use --udp-io mmsg (the default) with the addon ` +
        'built (npm run build), or Node >= 22.12 (Node 24 LTS), or --workers-mode redirect ' +
        '(only clients that follow ALTERNATE-SERVER), or --workers 1',
      SERVER_ERR.WORKERS_UNSUPPORTED,
    );
  }
  // Resolved once, here: workers get the secret and users over IPC, never in argv or env.
  const env = deps.env ?? {};
  const warn = deps.warn ?? (() => {});
  relayCredentials(o, env, warn); // no credentials → usage error before any fork
  const secret = relaySecret(o, env, () => {});
  const users = Object.entries(relayUsers(o, env)).map(([u, p]) => `${u}:${p}`);
  const resolved: RelayOptions = { ...o, user: users, 'secret-file': undefined, secret };
  const ledger = new AllocationLedger({
    maxAllocations: o['max-allocations'],
    maxAllocationsPerUser: o['user-quota'],
    maxAllocationsPerIp: o['ip-quota'],
  });
  return o['workers-mode'] === 'reuseport'
    ? reusePortWorkers(resolved, ledger, logger)
    : redirectWorkers(resolved, ledger, { ...deps, logger });
}

/**
 * With --redis (and --peer-gate, the default) the fleet relay's peer gate
 * (src/cluster/relay-peer-gate.ts), in each process that relays. Loaded only then (ioredis).
 */
async function fleetGate(o: RelayOptions, logger: Logger): Promise<FleetPeerGate | undefined> {
  if (o.redis === undefined || !o['peer-gate']) return undefined;
  const { openFleetPeerGate } = await import('../cluster/relay-peer-gate.js');
  return openFleetPeerGate({ redisUrl: o.redis, logger });
}

/** The server with `gate` (closed with it, or at once when the server does not start). */
async function withGate(
  gate: FleetPeerGate | undefined,
  start: () => Promise<TurnServer>,
): Promise<TurnServer> {
  if (gate === undefined) return start();
  let server: TurnServer;
  try {
    server = await start();
  } catch (err) {
    await gate.close();
    throw err;
  }
  const close = server.close.bind(server);
  server.close = async () => {
    await close();
    await gate.close();
  };
  return server;
}

async function single(o: RelayOptions, deps: RelayDeps & { logger: Logger }): Promise<Relay> {
  const options = turnServerOptions(o, deps);
  const gate = await fleetGate(o, deps.logger);
  if (gate) options.peerGate = gate;
  const server = await withGate(gate, () => createRelayServer(options));
  const a = server.addresses();
  deps.logger.info('turn relay listening', {
    udp: `${a.udp.address}:${a.udp.port}`,
    tcp: a.tcp ? `${a.tcp.address}:${a.tcp.port}` : undefined,
    relayAddress: options.relayAddress,
    realm: options.realm,
  });
  return {
    server,
    addresses: () => server.addresses(),
    counters: () =>
      Promise.resolve({ allocations: server.allocationCount, ...server.counters.snapshot() }),
    close: () => server.close(),
  };
}

async function reusePortWorkers(
  o: RelayOptions,
  ledger: AllocationLedger,
  logger: Logger,
): Promise<Relay> {
  const pool = await onPickedPort(o.listen, o.port, (port) =>
    WorkerPool.start({
      count: o.workers,
      exec: WORKER_MAIN,
      ledger,
      logger,
      maxMirrors: o['max-allocations'],
      start: () => ({
        kind: 'relay',
        config: {
          options: o,
          port,
          ...(o.tcp ? { tcpPort: o['tcp-port'] ?? port } : {}),
          share: 'reuseport',
          workers: o.workers,
        } satisfies RelayWorkerConfig,
      }),
    }),
  );
  const first = pool.ready[0]!;
  const addresses = { udp: first.udp, ...(first.tcp ? { tcp: first.tcp } : {}) };
  logger.info('turn relay listening', {
    udp: `${addresses.udp.address}:${addresses.udp.port}`,
    tcp: addresses.tcp ? `${addresses.tcp.address}:${addresses.tcp.port}` : undefined,
    workers: o.workers,
    mode: 'reuseport',
  });
  return {
    pool,
    addresses: () => addresses,
    counters: async () => ({ ...mergeCounters(await pool.query()), leases: ledger.total }),
    close: () => pool.close(),
  };
}

async function redirectWorkers(
  o: RelayOptions,
  ledger: AllocationLedger,
  deps: RelayDeps & { logger: Logger },
): Promise<Relay> {
  const listen = o.listen !== '0.0.0.0' && o.listen !== '::' ? o.listen : undefined;
  const advertised = o['external-address'] ?? listen ?? defaultRelayAddress(o.listen);
  // Filled as workers become ready; a replaced worker binds a new port and its entry changes in
  // place (the director reads this array on every Allocate).
  const alternates: { address: string; port: number }[] = [];
  const pool = await WorkerPool.start({
    count: o.workers,
    exec: WORKER_MAIN,
    ledger,
    logger: deps.logger,
    onReady: (i, r) => void (alternates[i] = { address: advertised, port: r.udp.port }),
    start: () => ({
      kind: 'relay',
      config: { options: o, port: 0, workers: o.workers } satisfies RelayWorkerConfig,
    }),
  });
  try {
    // The director's TCP port is its UDP port, also with --port 0: a TCP client reaches it at the
    // port the operator was told.
    const director = await onPickedPort(o.listen, o.port, (port) => {
      const options = turnServerOptions({ ...o, port, 'tcp-port': o['tcp-port'] ?? port }, deps);
      options.alternateServers = alternates;
      return createRelayServer(options);
    });
    const d = director.addresses();
    deps.logger.info('turn relay listening', {
      role: 'director',
      udp: `${d.udp.address}:${d.udp.port}`,
      tcp: d.tcp ? `${d.tcp.address}:${d.tcp.port}` : undefined,
      workers: alternates.map((w) => `${w.address}:${w.port}`),
    });
    return {
      server: director,
      pool,
      addresses: () => director.addresses(),
      counters: async () => ({ ...mergeCounters(await pool.query()), leases: ledger.total }),
      close: async () => {
        await director.close();
        await pool.close();
      },
    };
  } catch (err) {
    await pool.close();
    throw err;
  }
}

/** In a worker: the relay on the port the primary said (see RelayWorkerConfig). */
export async function startRelayInWorker(
  c: RelayWorkerConfig,
  deps: RelayDeps &
    Pick<
      Parameters<typeof createRelayServer>[0],
      'allocationLedger' | 'reservationExchange' | 'siblingExchange'
    >,
): Promise<TurnServer> {
  const o: RelayOptions = {
    ...c.options,
    'user-bps': Math.ceil(c.options['user-bps'] / c.workers),
    'total-bps': Math.ceil(c.options['total-bps'] / c.workers),
  };
  const gate = await fleetGate(o, deps.logger ?? jsonLogger(o['log-level']));
  return withGate(gate, () =>
    onPickedPort(o.listen, c.port, (port) => {
      const options = turnServerOptions({ ...o, port, 'tcp-port': c.tcpPort ?? port }, deps);
      if (gate) options.peerGate = gate;
      if (deps.allocationLedger) options.allocationLedger = deps.allocationLedger;
      if (deps.reservationExchange) options.reservationExchange = deps.reservationExchange;
      // Mirrors only between workers on one shared port (the client sees the same source from
      // each); with per-user caps they serve the peer check only (relay/server/siblings.ts).
      if (deps.siblingExchange && c.share === 'reuseport') {
        options.siblingExchange = deps.siblingExchange;
      }
      return createRelayServer(options);
    }),
  );
}
