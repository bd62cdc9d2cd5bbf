/**
 * Cluster metrics of one serve node, in the server's one registry (src/signaling/metrics.ts),
 * read at scrape time from the components that own the numbers (nothing on a hot path):
 *
 * | metric                                        | type    | labels        | what                                   |
 * | --------------------------------------------- | ------- | ------------- | -------------------------------------- |
 * | `natpush_cluster_ready`                       | gauge   |               | 1 when Redis is up and the heartbeat fresh (/readyz) |
 * | `natpush_cluster_nodes`                       | gauge   |               | serve nodes alive at the last sweep    |
 * | `natpush_cluster_nodes_reaped_total`          | counter |               | dead nodes this node reaped            |
 * | `natpush_cluster_heartbeat_failures_total`    | counter |               | heartbeats / sweeps that failed        |
 * | `natpush_cluster_revived_total`               | counter |               | times this node found itself reaped    |
 * | `natpush_cluster_bus_dropped_total`           | counter | reason        | bus messages not taken                 |
 * | `natpush_cluster_relays`                      | gauge   | kind          | relays in rotation (registered, static, local) |
 * | `natpush_cluster_relay_allocations`           | gauge   | relay, region | allocations each registered relay reports |
 * | `natpush_cluster_relay_score`                 | gauge   | relay         | the load score the pick compares       |
 * | `natpush_cluster_relay_credentials_total`     | counter | kind          | credentials handed, by kind of relay   |
 * | `natpush_cluster_relay_reroutes_total`        | counter |               | re-asks answered with another relay    |
 * | `natpush_cluster_relay_refresh_failures_total`| counter |               | fleet reads that failed (Redis away)   |
 *
 * Label cardinality: `relay` is bounded by the relays in rotation (RELAY_FLEET.maxRelays).
 */
import type { Metrics } from '../signaling/metrics.js';
import type { ClusterNode } from './cluster-node.js';
import type { RelayFleet, RelayKind } from './relay-fleet.js';

const KINDS: RelayKind[] = ['registered', 'static', 'local'];

export function clusterMetrics(m: Metrics, o: { cluster?: ClusterNode; fleet?: RelayFleet }): void {
  const c = o.cluster;
  if (c) {
    m.gauge('natpush_cluster_ready', 'Redis reachable and heartbeat fresh (1) or not (0).', () =>
      c.ready ? 1 : 0,
    );
    m.gauge(
      'natpush_cluster_nodes',
      'Serve nodes alive at the last sweep.',
      () => c.registry.liveNodes,
    );
    m.counterFrom(
      'natpush_cluster_nodes_reaped_total',
      'Dead serve nodes reaped here.',
      () => c.registry.counts.reaped,
    );
    m.counterFrom(
      'natpush_cluster_heartbeat_failures_total',
      'Heartbeats and sweeps that failed (Redis away).',
      () => c.registry.counts.failures,
    );
    m.counterFrom(
      'natpush_cluster_revived_total',
      'Times this node found its own key gone and claimed its peers again.',
      () => c.registry.counts.revived,
    );
    m.counterFrom(
      'natpush_cluster_bus_dropped_total',
      'Routing-bus messages not taken, by reason.',
      () => [[{ reason: 'malformed' }, c.bus.dropped.malformed]],
      ['reason'],
    );
  }
  const f = o.fleet;
  if (!f) return;
  m.gauge(
    'natpush_cluster_relays',
    'TURN relays in rotation, by kind.',
    () => {
      const v = f.view();
      return KINDS.map((kind) => [{ kind }, v.filter((r) => r.kind === kind).length]);
    },
    ['kind'],
  );
  m.gauge(
    'natpush_cluster_relay_allocations',
    'Allocations each relay in rotation reports (serve own relay: counted here).',
    () =>
      f
        .view()
        .filter((r) => r.kind !== 'static')
        .map((r) => [{ relay: r.id, region: r.region ?? '' }, r.allocations]),
    ['relay', 'region'],
  );
  m.gauge(
    'natpush_cluster_relay_score',
    'Load score of each relay in rotation (lowest is handed next).',
    () => f.view().map((r) => [{ relay: r.id }, r.score]),
    ['relay'],
  );
  m.counterFrom(
    'natpush_cluster_relay_credentials_total',
    'TURN credentials handed out, by kind of relay named.',
    () => KINDS.map((kind) => [{ kind }, f.issued[kind]]),
    ['kind'],
  );
  m.counterFrom(
    'natpush_cluster_relay_reroutes_total',
    'Peers asking again soon after (allocation failed) handed another relay.',
    () => f.reroutes,
  );
  m.counterFrom(
    'natpush_cluster_relay_refresh_failures_total',
    'Reads of the relay fleet from Redis that failed.',
    () => f.failures.refresh,
  );
}
