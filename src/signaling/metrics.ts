/**
 * A tiny Prometheus registry (text exposition format 0.0.4): counters with labels and gauges
 * read at scrape time. Enough for `/metrics`; no dependency.
 * https://prometheus.io/docs/instrumenting/exposition_formats/
 */
type Labels = Record<string, string>;

function labelKey(l: Labels): string {
  const keys = Object.keys(l).sort();
  if (keys.length === 0) return '';
  const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
  return '{' + keys.map((k) => `${k}="${esc(l[k] ?? '')}"`).join(',') + '}';
}

export class Counter {
  readonly values = new Map<string, number>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}

  inc(labels: Labels = {}, by = 1): void {
    const k = labelKey(labels);
    this.values.set(k, (this.values.get(k) ?? 0) + by);
  }

  get(labels: Labels = {}): number {
    return this.values.get(labelKey(labels)) ?? 0;
  }
}

interface Gauge {
  name: string;
  help: string;
  read: () => number | [Labels, number][];
}

export class Metrics {
  readonly #counters: Counter[] = [];
  readonly #gauges: Gauge[] = [];

  counter(name: string, help: string): Counter {
    const c = new Counter(name, help);
    this.#counters.push(c);
    return c;
  }

  gauge(name: string, help: string, read: Gauge['read']): void {
    this.#gauges.push({ name, help, read });
  }

  render(): string {
    const out: string[] = [];
    for (const c of this.#counters) {
      out.push(`# HELP ${c.name} ${c.help}`, `# TYPE ${c.name} counter`);
      for (const [k, v] of c.values) out.push(`${c.name}${k} ${v}`);
    }
    for (const g of this.#gauges) {
      out.push(`# HELP ${g.name} ${g.help}`, `# TYPE ${g.name} gauge`);
      const v = g.read();
      if (typeof v === 'number') out.push(`${g.name} ${v}`);
      else for (const [l, n] of v) out.push(`${g.name}${labelKey(l)} ${n}`);
    }
    return out.join('\n') + '\n';
  }
}

/** The signaling server's metrics, created once per server. */
export function signalingMetrics(m: Metrics) {
  return {
    registry: m,
    notificationsIn: m.counter(
      'natpush_notifications_in_total',
      'Notifications accepted, by ingress path.',
    ),
    notificationsOut: m.counter(
      'natpush_notifications_out_total',
      'Notifications acked by recipients, by transport.',
    ),
    deliveries: m.counter(
      'natpush_deliveries_total',
      'Deliver frames sent, by transport (retries included).',
    ),
    retries: m.counter('natpush_delivery_retries_total', 'Deliver frames sent again after no ack.'),
    drops: m.counter('natpush_dropped_frames_total', 'Non-notification frames dropped, by reason.'),
    deferred: m.counter(
      'natpush_delivery_deferred_total',
      'Deliveries postponed because the transport buffer was full (they wait in the mailbox).',
    ),
    errors: m.counter('natpush_errors_total', 'Error frames / responses sent, by code.'),
    connections: m.counter('natpush_connections_total', 'Connections opened, by transport.'),
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
