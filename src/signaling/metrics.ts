/**
 * The one metrics registry (issue 10, item 5): prom-client, for signaling, STUN and the relay
 * alike, rendered at `/metrics` in the Prometheus text format 0.0.4. A `Metrics` is one
 * prom-client `Registry` per server (never the global one: tests run many servers in a process).
 *
 * Counters keep the small interface the signaling code uses (`inc(labels, by)`, `get(labels)` for
 * tests); gauges are read at scrape time from the component that owns the number (`read`), so no
 * hot path does more than an increment.
 * https://prometheus.io/docs/instrumenting/exposition_formats/
 */
import promClient from 'prom-client';

type Labels = Record<string, string>;

/** A label set's identity whatever the order its keys were written in (for `get`). */
function labelKey(l: Labels): string {
  return Object.keys(l)
    .sort()
    .map((k) => `${k}=${l[k]}`)
    .join(',');
}

/**
 * A label set's key as written: no sort, no array — this runs on every increment. Callers write
 * a counter's labels in one order, so each set gets one entry (two orders would give two
 * entries, both summed into the same series at scrape).
 */
function fastKey(l: Labels): string {
  let k = '';
  for (const name in l) k += `${name}=${l[name]},`;
  return k;
}

/**
 * A counter whose counts live here, one entry per label set, and reach prom-client only when
 * scraped (`collect`): prom-client's own `inc` hashes and validates the label set on every call,
 * which was 3–4 % of serve's CPU under load (several increments per notification,
 * bench/cluster-throughput --cpu-prof). Bound: label sets are fixed small enums (transport,
 * path, reason × type, error code).
 */
export class Counter {
  readonly #values = new Map<string, { labels: Labels; n: number }>();

  inc(labels: Labels = {}, by = 1): void {
    const k = fastKey(labels);
    const e = this.#values.get(k);
    if (e) e.n += by;
    else this.#values.set(k, { labels: { ...labels }, n: by });
  }

  get(labels: Labels = {}): number {
    const want = labelKey(labels);
    let n = 0;
    for (const e of this.#values.values()) if (labelKey(e.labels) === want) n += e.n;
    return n;
  }

  /** Every label set and its count (what `collect` exports). */
  entries(): Iterable<{ labels: Labels; n: number }> {
    return this.#values.values();
  }
}

/**
 * A histogram whose buckets live here and reach prom-client only when scraped, for the same
 * reason as `Counter`: it is observed once per ack (delivery.ts), and prom-client's `observe`
 * hashes and validates the label set each time. Counts are kept per bucket (not cumulative);
 * the export sums them (`collect`). Bound: label sets are fixed small enums (the ack's path).
 */
export class Histogram {
  readonly #values = new Map<
    string,
    { labels: Labels; counts: number[]; sum: number; count: number }
  >();

  /** `bounds`: the buckets' upper bounds, ascending (`le`; `+Inf` is implied). */
  constructor(readonly bounds: readonly number[]) {
    for (let i = 1; i < bounds.length; i++)
      if (!(bounds[i]! > bounds[i - 1]!)) throw new RangeError('bucket bounds must ascend');
  }

  observe(labels: Labels, v: number): void {
    const k = fastKey(labels);
    let e = this.#values.get(k);
    if (!e) {
      const counts = new Array<number>(this.bounds.length).fill(0);
      e = { labels: { ...labels }, counts, sum: 0, count: 0 };
      this.#values.set(k, e);
    }
    // Linear: a live ack lands in one of the first few of the 18 buckets.
    const b = this.bounds;
    let i = 0;
    while (i < b.length && v > b[i]!) i++;
    if (i < b.length) e.counts[i]!++;
    e.sum += v;
    e.count++;
  }

  /** Count and sum of one label set (tests). */
  get(labels: Labels = {}): { count: number; sum: number } {
    const want = labelKey(labels);
    let count = 0;
    let sum = 0;
    for (const e of this.#values.values())
      if (labelKey(e.labels) === want) {
        count += e.count;
        sum += e.sum;
      }
    return { count, sum };
  }

  /** Prometheus' samples: cumulative `_bucket`s (`le` first, as prom-client writes), `_sum`, `_count`. */
  samples(
    name: string,
  ): { metricName: string; labels: Record<string, string | number>; value: number }[] {
    const out: { metricName: string; labels: Record<string, string | number>; value: number }[] =
      [];
    for (const e of this.#values.values()) {
      let acc = 0;
      this.bounds.forEach((le, i) => {
        acc += e.counts[i]!;
        out.push({ metricName: `${name}_bucket`, labels: { le, ...e.labels }, value: acc });
      });
      out.push({
        metricName: `${name}_bucket`,
        labels: { le: '+Inf', ...e.labels },
        value: e.count,
      });
      out.push({ metricName: `${name}_sum`, labels: e.labels, value: e.sum });
      out.push({ metricName: `${name}_count`, labels: e.labels, value: e.count });
    }
    return out;
  }
}

/** What a gauge reads at scrape time: one number, or one per label set. */
export type GaugeRead = () => number | [Labels, number][] | Promise<number | [Labels, number][]>;

/** Scrape time: reset, then put what `read` says (one value, or one per label set). */
async function apply(
  metric: { reset(): void },
  read: GaugeRead,
  put: (labels: Labels, n: number) => void,
): Promise<void> {
  const v = await read();
  metric.reset();
  if (typeof v === 'number') put({}, v);
  else for (const [l, n] of v) put(l, n);
}

export class Metrics {
  readonly prom = new promClient.Registry();

  /** A counter; `labelNames` are every label its `inc` calls use (prom-client checks them). */
  counter(name: string, help: string, labelNames: string[] = []): Counter {
    const c = new Counter();
    new promClient.Counter({
      name,
      help,
      labelNames,
      registers: [this.prom],
      collect() {
        this.reset();
        for (const e of c.entries()) this.inc(e.labels, e.n);
      },
    });
    return c;
  }

  /** A gauge read when scraped. */
  gauge(name: string, help: string, read: GaugeRead, labelNames: string[] = []): void {
    new promClient.Gauge({
      name,
      help,
      labelNames,
      registers: [this.prom],
      async collect() {
        await apply(this, read, (l, n) => this.set(l, n));
      },
    });
  }

  /**
   * A counter whose value lives in a component (relay, STUN counters): read when scraped, so the
   * hot path keeps its plain field increments. Values must only grow (a restarted worker's
   * counters are merged into the sum by the primary).
   */
  counterFrom(name: string, help: string, read: GaugeRead, labelNames: string[] = []): void {
    new promClient.Counter({
      name,
      help,
      labelNames,
      registers: [this.prom],
      async collect() {
        await apply(this, read, (l, n) => this.inc(l, n));
      },
    });
  }

  /**
   * A histogram (`Histogram`), handed to the registry as prom-client's metric contract: what
   * `Registry.metrics()` reads of a metric is its name, help, type and `get()`.
   */
  histogram(name: string, help: string, buckets: readonly number[]): Histogram {
    const h = new Histogram(buckets);
    const metric = {
      name,
      help,
      type: 'histogram',
      aggregator: 'sum',
      get: () =>
        Promise.resolve({
          name,
          help,
          type: 'histogram',
          aggregator: 'sum',
          values: h.samples(name),
        }),
      reset: () => {},
    };
    this.prom.registerMetric(metric as unknown as promClient.Metric);
    return h;
  }

  render(): Promise<string> {
    return this.prom.metrics();
  }

  readonly contentType = promClient.Registry.PROMETHEUS_CONTENT_TYPE;
}

/**
 * Buckets of `natpush_delivery_latency_seconds`: a live delivery takes milliseconds (one
 * WebSocket round trip, a store commit), a long poll up to its wait, and a notification stored
 * for an offline peer as long as the peer stays away — up to the default TTL of a day
 * (constants.ts LIMITS.defaultTtlSeconds). 18 buckets × 3 paths bound the series.
 */
export const DELIVERY_LATENCY_BUCKETS = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600, 86400,
];

/** The signaling server's metrics, created once per server. */
export function signalingMetrics(m: Metrics) {
  return {
    registry: m,
    notificationsIn: m.counter(
      'natpush_notifications_in_total',
      'Notifications accepted, by ingress path.',
      ['path'],
    ),
    notificationsOut: m.counter(
      'natpush_notifications_out_total',
      'Notifications acked by recipients, by transport.',
      ['transport'],
    ),
    /**
     * Accept (the server's `accepted` / 202) to the recipient's end-to-end ack, by the path the
     * ack came over: `websocket`, `sse` or `poll` (the server's rungs of the delivery ladder;
     * direct and relayed peer paths never reach the server). Observed for acks of notifications
     * in flight on this node (delivery.ts `ack`).
     */
    deliveryLatency: m.histogram(
      'natpush_delivery_latency_seconds',
      'Seconds from accepting a notification to its end-to-end ack, by the path the ack came over.',
      DELIVERY_LATENCY_BUCKETS,
    ),
    deliveries: m.counter(
      'natpush_deliveries_total',
      'Deliver frames sent, by transport (retries included).',
      ['transport'],
    ),
    retries: m.counter(
      'natpush_delivery_retries_total',
      'Deliver frames sent again after no ack.',
      ['transport'],
    ),
    drops: m.counter(
      'natpush_dropped_frames_total',
      'Non-notification frames dropped, by reason.',
      ['reason', 'type'],
    ),
    deferred: m.counter(
      'natpush_delivery_deferred_total',
      'Deliveries postponed because the transport buffer was full (they wait in the mailbox).',
      ['transport'],
    ),
    errors: m.counter('natpush_errors_total', 'Error frames / responses sent, by code.', ['code']),
    connections: m.counter('natpush_connections_total', 'Connections opened, by transport.', [
      'transport',
    ]),
    turnCredentials: m.counter(
      'natpush_turn_credentials_issued_total',
      'TURN credentials minted for authenticated peers.',
    ),
    expired: m.counter(
      'natpush_mailbox_expired_total',
      'Notifications dropped undelivered at TTL.',
    ),
  };
}
export type SignalingMetrics = ReturnType<typeof signalingMetrics>;
