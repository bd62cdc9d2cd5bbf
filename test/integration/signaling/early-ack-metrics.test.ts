/**
 * What GET /metrics of a real `natpush serve` says about notifications acked before they were
 * written (the early-ack fast path, src/signaling/early-accepts.ts), over each transport:
 * `natpush_notifications_out_total{transport}` names the transport the ack came over (it could
 * say `websocket` for an SSE or long-poll ack), and `natpush_delivery_latency_seconds` (kept in
 * our own buckets, handed to prom-client at the scrape) counts each ack once under its path,
 * with cumulative buckets.
 *
 * `--early-ack-ms 60000`: every notification below takes the fast path whatever the machine's
 * load (the write would be due in a minute; each is acked long before), and each POST is
 * answered 202 at its ack.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { generateIdentity } from '../../../src/signaling/identity.js';
import { allow, httpSession, post, RawClient, sseStream } from './helpers.js';
import { serve, type NatpushProcess } from './natpush-process.js';
import { series } from './metrics-series.js';

const KEY = 'early-ack-metrics-key';
const procs: NatpushProcess[] = [];
const closers: (() => void)[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) c();
  for (const p of procs.splice(0)) await p.kill();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** An SSE stream's `deliver` ids, as they arrive (helpers.ts). */
function sseIds(url: string, token: string): { ids: () => string[] } {
  const stream = sseStream(url, token);
  closers.push(stream.close);
  const ids = () =>
    stream.all
      .filter((e) => e.event === 'deliver')
      .map((e) => (JSON.parse(e.data) as { id: string }).id);
  return { ids };
}

describe('GET /metrics of natpush serve: early-acked notifications, by transport', () => {
  it('SSE, long-poll and WebSocket acks of unwritten notifications are counted under their own transport', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'np-early-metrics-'));
    dirs.push(dir);
    const s = await serve(dir, [
      '--no-relay',
      '--no-stun',
      '--api-key',
      KEY,
      '--early-ack-ms',
      '60000',
    ]);
    procs.push(s.p);
    const url = s.url;
    const apiKey = { authorization: `Bearer ${KEY}` };
    const notify = (to: string, id: string) =>
      post(`${url}/v1/peers/${to}/notifications`, { id, body: id }, apiKey);
    const onlineOver = async (peer: string, transport: string) =>
      expect
        .poll(
          async () =>
            (
              (await (await fetch(`${url}/v1/peers/${peer}`, { headers: apiKey })).json()) as {
                transport?: string;
              }
            ).transport,
          { timeout: 30_000 },
        )
        .toBe(transport);

    // SSE: three notifications, each acked with POST /v1/acks as it arrives.
    const c = generateIdentity();
    const cAuth = { authorization: `Bearer ${await httpSession({ url }, c)}` };
    const stream = sseIds(url, cAuth.authorization.slice(7));
    await onlineOver(c.peerId, 'sse');
    for (const id of ['s0', 's1', 's2']) {
      const answered = notify(c.peerId, id);
      await expect.poll(() => stream.ids().includes(id), { timeout: 30_000 }).toBe(true);
      expect(await post(`${url}/v1/acks`, { ids: [id] }, cAuth)).toEqual({
        status: 200,
        json: { acked: 1 },
      });
      expect((await answered).status).toBe(202);
    }

    // Long poll: two notifications, handed to a held poll and acked on the next one.
    const d = generateIdentity();
    const dAuth = { authorization: `Bearer ${await httpSession({ url }, d)}` };
    const poll = async (q: string) =>
      (await (await fetch(`${url}/v1/poll?${q}`, { headers: dAuth })).json()) as {
        notifications: { id: string }[];
      };
    for (const id of ['p0', 'p1']) {
      const held = poll('wait=30000');
      await onlineOver(d.peerId, 'poll');
      const answered = notify(d.peerId, id);
      expect((await held).notifications.map((n) => n.id)).toEqual([id]);
      expect((await poll(`wait=0&ack=${id}`)).notifications).toEqual([]);
      expect((await answered).status).toBe(202);
    }

    // WebSocket: one, from a peer, acked over the recipient's WebSocket.
    const a = await RawClient.open(url);
    const b = await RawClient.open(url);
    closers.push(
      () => a.ws.terminate(),
      () => b.ws.terminate(),
    );
    const aid = await a.login();
    const bid = await b.login();
    await allow(b, [aid.peerId]);
    a.send({ type: 'notify', ref: 'w0', id: 'w0', to: bid.peerId, body: 'w0' });
    await b.wait('deliver');
    b.send({ type: 'ack', ids: ['w0'] });
    await a.wait('accepted');
    await a.wait('delivered');

    const text = await (await fetch(`${url}/metrics`)).text();
    // All six were acked before they were written.
    expect(series(text, 'natpush_notifications_unwritten_total').get('')).toBe(6);
    const out = series(text, 'natpush_notifications_out_total');
    expect(out.get('{transport="sse"}')).toBe(3);
    expect(out.get('{transport="poll"}')).toBe(2);
    expect(out.get('{transport="websocket"}')).toBe(1);
    const count = series(text, 'natpush_delivery_latency_seconds_count');
    const bucket = series(text, 'natpush_delivery_latency_seconds_bucket');
    const sum = series(text, 'natpush_delivery_latency_seconds_sum');
    for (const [path, n] of [
      ['sse', 3],
      ['poll', 2],
      ['websocket', 1],
    ] as const) {
      expect(count.get(`{path="${path}"}`), path).toBe(n);
      // Cumulative: the last finite bucket (a day) and +Inf hold every observation.
      expect(bucket.get(`{le="86400",path="${path}"}`), path).toBe(n);
      expect(bucket.get(`{le="+Inf",path="${path}"}`), path).toBe(n);
      expect(sum.get(`{path="${path}"}`), path).toBeGreaterThanOrEqual(0);
      expect(sum.get(`{path="${path}"}`), path).toBeLessThan(86400 * n);
    }
    expect(text).toContain('# TYPE natpush_delivery_latency_seconds histogram');
  }, 120_000);
});
