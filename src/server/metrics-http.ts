/**
 * `/metrics` for `natpush relay` and `natpush stun` run alone (`--metrics-port`): the one
 * registry (prom-client) over plain HTTP, on loopback by default (`--metrics-host`): counters
 * say who talks to the server, which is not for everyone. `serve` has its own at the signaling
 * port.
 */
import { createServer } from 'node:http';
import { Metrics } from '../signaling/metrics.js';
import type { WorkerPool } from './workers/pool.js';

export interface MetricsEndpoint {
  url: string;
  close(): Promise<void>;
}

export async function serveMetrics(
  host: string,
  port: number,
  metrics: Metrics,
): Promise<MetricsEndpoint> {
  const http = createServer((req, res) => {
    if (req.method !== 'GET' || req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    metrics.render().then(
      (text) => res.writeHead(200, { 'content-type': metrics.contentType }).end(text),
      () => res.writeHead(500).end(),
    );
  });
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(port, host, () => resolve());
  });
  const a = http.address() as { address: string; port: number };
  const h = a.address.includes(':') ? `[${a.address}]` : a.address;
  return {
    url: `http://${h}:${a.port}/metrics`,
    close: () =>
      new Promise<void>((r) => {
        http.closeAllConnections();
        http.close(() => r());
      }),
  };
}

/** What `withMetrics` wraps: a relay or STUN server (one process or a pool). */
interface Served {
  pool?: WorkerPool | undefined;
  counters(): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

/**
 * `component` with `/metrics` on host:port when a port is given: `register` adds its families to
 * a fresh registry (read through `component.counters()`: every worker summed), plus the pool's.
 * Closes the component if the endpoint cannot start.
 */
export async function withMetrics<T extends Served>(
  component: T,
  prefix: string,
  register: (m: Metrics, read: () => Promise<Record<string, unknown>>) => void,
  o: { 'metrics-port'?: number | undefined; 'metrics-host': string },
): Promise<T & { metrics?: MetricsEndpoint }> {
  if (o['metrics-port'] === undefined) return component;
  try {
    const m = new Metrics();
    register(m, () => component.counters());
    poolMetrics(m, prefix, component.pool);
    const metrics = await serveMetrics(o['metrics-host'], o['metrics-port'], m);
    return {
      ...component,
      metrics,
      close: async () => {
        await metrics.close();
        await component.close();
      },
    };
  } catch (err) {
    await component.close();
    throw err;
  }
}

/** The worker pool's own numbers. */
export function poolMetrics(m: Metrics, prefix: string, pool: WorkerPool | undefined): void {
  m.gauge(`${prefix}_workers`, 'Worker processes ready (1 without --workers).', () =>
    pool ? pool.ready.length : 1,
  );
  m.counterFrom(`${prefix}_worker_restarts_total`, 'Workers replaced after dying.', () =>
    pool ? pool.replaced : 0,
  );
}

export { Metrics };
