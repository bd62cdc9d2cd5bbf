/**
 * `createStun(options)`: the STUN server as `natpush stun` runs it — in this process, or in
 * `workers` processes on the same ports: with SO_REUSEPORT where the runtime has it (each worker
 * its own socket; the kernel spreads clients by 5-tuple), else node:cluster's one shared socket
 * (any worker may read any datagram: fine for Binding, which keeps no state).
 */
import { type Endpoint } from '../net/index.js';
import { selectUdpNetwork } from '../net/mmsg-network.js';
import { StunServer } from '../stun/index.js';
import type { Logger } from '../util/logger.js';
import { jsonLogger } from '../util/logger.js';
import { optionError } from './errors.js';
import { parseOptions } from './options-schema.js';
import { stunSchema, stunServerOptions, type StunArgs, type StunOptions } from './stun-options.js';
import { withMetrics, type MetricsEndpoint } from './metrics-http.js';
import { stunMetrics } from './server-metrics.js';
import { mergeCounters } from './workers/merge.js';
import { onPickedPort } from './workers/port-pick.js';
import { WorkerPool } from './workers/pool.js';
import { udpPortShareUnavailable, WORKER_MAIN } from './workers/runtime.js';
import { workerShare, type RateShare } from './workers/rate-share.js';
import { sharedPortNetwork } from './workers/shared-port.js';

export interface Stun {
  /** UDP addresses (primary first) and the TCP one. */
  addresses(): { udp: Endpoint[]; tcp?: Endpoint; other?: Endpoint };
  readonly server?: StunServer;
  readonly pool?: WorkerPool;
  counters(): Promise<Record<string, unknown>>;
  /** `/metrics` (with --metrics-port). */
  metrics?: MetricsEndpoint;
  close(): Promise<void>;
}

export interface StunWorkerConfig {
  options: StunOptions;
  /** The primary port, resolved by the primary. */
  port: number;
  share: 'reuseport' | 'cluster';
}

export async function createStun(
  args: StunArgs | StunOptions,
  deps: { logger?: Logger } = {},
): Promise<Stun> {
  const o = parseOptions(stunSchema, args as Record<string, unknown>);
  return withMetrics(await compose(o, deps), 'natpush_stun', stunMetrics, o);
}

async function compose(o: StunOptions, deps: { logger?: Logger }): Promise<Stun> {
  const options = stunServerOptions(o, deps.logger);
  if (o.workers === 1) {
    const server = await StunServer.start(options);
    return {
      server,
      addresses: () => {
        const tcp = server.tcpAddress();
        return {
          udp: server.addresses(),
          ...(tcp ? { tcp } : {}),
          ...(server.other ? { other: server.other } : {}),
        };
      },
      counters: () => Promise.resolve({ ...server.stats }),
      close: () => server.close(),
    };
  }
  if (options.alternate?.port === 0) {
    throw optionError(
      '--workers needs a fixed --alternate port (port 0 would give every worker its own)',
    );
  }
  // SO_REUSEPORT from the udp_mmsg addon (any Node) or dgram (Node >= 22.12); else node:cluster.
  const share = udpPortShareUnavailable(o['udp-io']) === undefined ? 'reuseport' : 'cluster';
  const logger = deps.logger ?? jsonLogger(o['log-level']);
  const pool = await onPickedPort(options.listen.address, options.listen.port, (port) =>
    WorkerPool.start({
      count: o.workers,
      exec: WORKER_MAIN,
      logger,
      start: () => ({
        kind: 'stun',
        config: { options: o, port, share } satisfies StunWorkerConfig,
      }),
    }),
  );
  const first = pool.ready[0]!;
  return {
    pool,
    addresses: () => ({ udp: [first.udp], ...(first.tcp ? { tcp: first.tcp } : {}) }),
    counters: async () => mergeCounters(await pool.query()),
    close: () => pool.close(),
  };
}

/** In a worker: the STUN server on the primary's port, sharing it (StunWorkerConfig.share). */
export function startStunInWorker(c: StunWorkerConfig): Promise<StunServer> {
  const options = stunServerOptions(c.options);
  options.listen = { ...options.listen, port: c.port };
  // The per-source limit holds for the whole server: each worker enforces its share.
  options.rateLimit = workerShare(options.rateLimit as RateShare | false, c.options.workers);
  const ports = [c.port, options.alternate?.port ?? c.port];
  const net = selectUdpNetwork(c.options['udp-io'], { lendViews: true, logger: options.logger });
  options.net = sharedPortNetwork(net, ports, c.share);
  return StunServer.start(options);
}
