/**
 * `natpush_delivery_latency_seconds` read where an operator reads it: GET /metrics of a real
 * signaling server on loopback, after real deliveries over a WebSocket and a long poll.
 *
 * The server's clock is the system clock plus an offset the test moves, so "accepted, then
 * acked 10 s later" is exact without sleeping: each observation lands between the 10 s and 30 s
 * buckets, which leaves 20 s of margin for a loaded machine.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { generateIdentity } from '../../../src/signaling/identity.js';
import { systemClock, type Clock } from '../../../src/util/clock.js';
import { allow, API_KEY, httpSession, post, Tracker } from '../signaling/helpers.js';
import { series } from '../signaling/metrics-series.js';

const t = new Tracker();
afterEach(() => t.cleanup());

class OffsetClock implements Clock {
  offsetMs = 0;
  now(): number {
    return systemClock.now() + this.offsetMs;
  }
  setTimeout(fn: () => void, ms: number) {
    return systemClock.setTimeout(fn, ms);
  }
}

describe('GET /metrics: natpush_delivery_latency_seconds', () => {
  it('observes accept → end-to-end ack, by the path the ack came over', async () => {
    const clock = new OffsetClock();
    const s = await t.server({ clock });
    const scrape = async () => (await fetch(`${s.url}/metrics`)).text();

    const before = await scrape();
    expect(before).toContain('# TYPE natpush_delivery_latency_seconds histogram');
    expect(series(before, 'natpush_delivery_latency_seconds_count').size).toBe(0);

    // WebSocket: accepted at T, acked at T + 10 s.
    const a = await t.raw(s);
    const b = await t.raw(s);
    const aid = await a.login();
    const bid = await b.login();
    await allow(b, [aid.peerId]);
    a.send({ type: 'notify', ref: 'r1', id: 'n1', to: bid.peerId, body: 'hi' });
    await a.wait('accepted');
    await b.wait('deliver');
    clock.offsetMs += 10_000;
    b.send({ type: 'ack', ids: ['n1'] });
    await a.wait('delivered');

    // Long poll: stored for a peer over HTTP, polled, acked on the next poll 10 s later.
    const c = generateIdentity();
    const token = await httpSession(s, c);
    const auth = { authorization: `Bearer ${token}` };
    const r = await post(
      `${s.url}/v1/peers/${c.peerId}/notifications`,
      { body: 'b1' },
      { authorization: `Bearer ${API_KEY}` },
    );
    expect(r.status).toBe(202);
    // A held poll returns as soon as the stored notification is handed to it (an event, not a
    // sleep); the wait is only its upper bound.
    const polled = await (await fetch(`${s.url}/v1/poll?wait=20000`, { headers: auth })).json();
    const id = (polled as { notifications: { id: string }[] }).notifications[0]!.id;
    clock.offsetMs += 10_000;
    const acked = await fetch(`${s.url}/v1/poll?wait=0&ack=${id}`, { headers: auth });
    expect(acked.status).toBe(200);
    await acked.text();

    const after = await scrape();
    const count = series(after, 'natpush_delivery_latency_seconds_count');
    expect(count.get('{path="websocket"}')).toBe(1);
    expect(count.get('{path="poll"}')).toBe(1);
    const bucket = series(after, 'natpush_delivery_latency_seconds_bucket');
    for (const path of ['websocket', 'poll']) {
      expect(bucket.get(`{le="10",path="${path}"}`), path).toBe(0);
      expect(bucket.get(`{le="30",path="${path}"}`), path).toBe(1);
      expect(bucket.get(`{le="+Inf",path="${path}"}`), path).toBe(1);
    }
    const sum = series(after, 'natpush_delivery_latency_seconds_sum');
    expect(sum.get('{path="websocket"}')).toBeGreaterThanOrEqual(10);
    expect(sum.get('{path="websocket"}')).toBeLessThan(30);
  });
});
