/**
 * Our own histogram (metrics.ts `Histogram`: buckets counted here, handed to prom-client only
 * when scraped) renders exactly what prom-client's own Histogram renders for the same
 * observations — boundaries included (a value equal to a bound is in that bucket, `le`).
 */
import promClient from 'prom-client';
import { describe, expect, it } from 'vitest';
import { DELIVERY_LATENCY_BUCKETS, Metrics } from '../../../src/signaling/metrics.js';

describe('Metrics.histogram', () => {
  it('renders as prom-client renders the same observations', async () => {
    const name = 'natpush_test_latency_seconds';
    const ours = new Metrics();
    const h = ours.histogram(name, 'help text', DELIVERY_LATENCY_BUCKETS);
    const reference = new promClient.Registry();
    const ref = new promClient.Histogram({
      name,
      help: 'help text',
      labelNames: ['path'],
      buckets: DELIVERY_LATENCY_BUCKETS,
      registers: [reference],
    });
    const values: [string, number][] = [
      ['websocket', 0],
      ['websocket', 0.001],
      ['websocket', 0.0011],
      ['websocket', 0.01],
      ['sse', 4.2],
      ['poll', 86_400],
      ['poll', 100_000],
      ['websocket', 30],
    ];
    for (const [path, v] of values) {
      h.observe({ path }, v);
      ref.observe({ path }, v);
    }
    expect(await ours.render()).toBe(await reference.metrics());
    expect(h.get({ path: 'websocket' })).toEqual({ count: 5, sum: 0 + 0.001 + 0.0011 + 0.01 + 30 });
  });

  it('renders nothing but its header before the first observation, and refuses unsorted bounds', async () => {
    const m = new Metrics();
    m.histogram('natpush_empty_seconds', 'empty', [0.1, 1]);
    expect(await m.render()).toBe(
      '# HELP natpush_empty_seconds empty\n# TYPE natpush_empty_seconds histogram\n',
    );
    expect(() => m.histogram('natpush_bad_seconds', 'bad', [1, 0.1])).toThrow(RangeError);
  });
});
