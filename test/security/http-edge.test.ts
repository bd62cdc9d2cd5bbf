/**
 * Issue 8, finding 11 (the signaling HTTP parts). A bad percent-escape in a path gave a 500 and
 * an error log line (→ 400 NATPUSH_ERR_BAD_REQUEST, nothing logged as an error); a client that
 * resets or abandons a request was logged as a server error (→ debug); an SSE stream outlived
 * the session token that opened it, and so could a held long poll (→ both end at expiry).
 */
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { generateIdentity } from '../../src/signaling/identity.js';
import type { Logger } from '../../src/util/logger.js';
import { API_KEY, httpSession, post, Tracker } from '../integration/signaling/helpers.js';
import { SseReader, within } from './signaling-helpers.js';

const t = new Tracker();
const readers: SseReader[] = [];
afterEach(async () => {
  for (const r of readers.splice(0)) r.close();
  await t.cleanup();
});

function recordingLogger(): Logger & { lines: { level: string; msg: string }[] } {
  const lines: { level: string; msg: string }[] = [];
  const at = (level: string) => (msg: string) => void lines.push({ level, msg });
  return {
    lines,
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
  };
}

/** Send raw bytes on a fresh TCP connection, then cut it (RST when `reset`). */
function rawAndCut(port: number, text: string, reset: boolean): Promise<void> {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1', () => {
      sock.write(text, () => {
        // Let the server read what was sent before the connection goes.
        setTimeout(() => (reset ? sock.resetAndDestroy() : sock.destroy()), 50);
      });
    });
    sock.on('close', () => resolve());
    sock.on('error', () => {});
  });
}

describe('finding 11: HTTP edges', () => {
  it('a bad percent-escape in a path is 400 NATPUSH_ERR_BAD_REQUEST, not a 500 and an error log', async () => {
    const log = recordingLogger();
    const s = await t.server({ logger: log });
    const auth = { authorization: `Bearer ${API_KEY}` };
    for (const path of ['/v1/peers/%zz', '/v1/peers/%E0%A4%A', '/v1/peers/%']) {
      const g = await fetch(`${s.url}${path}`, { headers: auth });
      expect(g.status).toBe(400);
      expect(((await g.json()) as { error: { code: string } }).error.code).toBe(
        'NATPUSH_ERR_BAD_REQUEST',
      );
      const p = await post(`${s.url}${path}/notifications`, { body: 'x' }, auth);
      expect(p.status).toBe(400);
      expect(p.json.error.code).toBe('NATPUSH_ERR_BAD_REQUEST');
    }
    expect(log.lines.filter((l) => l.level === 'error')).toEqual([]);
    expect(s.context.metrics.errors.get({ code: 'NATPUSH_ERR_INTERNAL' })).toBe(0);
  });

  it('clients that reset or abandon a request are logged at debug, never as errors; honest traffic flows', async () => {
    const log = recordingLogger();
    const s = await t.server({ logger: log });
    const victim = generateIdentity();
    const token = await httpSession(s, victim);
    const head = (path: string, len: number, extra = '') =>
      `POST ${path} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${extra || API_KEY}\r\n` +
      `content-type: application/json\r\ncontent-length: ${len}\r\n\r\n{"body":`;
    // Half-sent bodies, cut by FIN and by RST, on both JSON endpoints.
    await rawAndCut(s.port, head(`/v1/peers/${victim.peerId}/notifications`, 1000), false);
    await rawAndCut(s.port, head(`/v1/peers/${victim.peerId}/notifications`, 1000), true);
    await rawAndCut(s.port, head('/v1/acks', 1000, token), true);
    // An SSE stream and a held long poll, cut by RST.
    await rawAndCut(
      s.port,
      `GET /v1/events?token=${encodeURIComponent(token)} HTTP/1.1\r\nhost: x\r\n\r\n`,
      true,
    );
    await rawAndCut(
      s.port,
      `GET /v1/poll?wait=20000&token=${encodeURIComponent(token)} HTTP/1.1\r\nhost: x\r\n\r\n`,
      true,
    );
    await expect
      .poll(() => log.lines.filter((l) => l.msg === 'http client went away').length)
      .toBe(3);
    expect(log.lines.filter((l) => l.level === 'error' || l.level === 'warn')).toEqual([]);
    // The honest poller still gets its notification exactly once.
    const auth = { authorization: `Bearer ${API_KEY}` };
    await post(`${s.url}/v1/peers/${victim.peerId}/notifications`, { id: 'n1', body: 'hi' }, auth);
    const h = { authorization: `Bearer ${token}` };
    const r1 = (await (await fetch(`${s.url}/v1/poll?wait=5000`, { headers: h })).json()) as {
      notifications: { id: string }[];
    };
    expect(r1.notifications.map((n) => n.id)).toEqual(['n1']);
    const r2 = (await (await fetch(`${s.url}/v1/poll?wait=0&ack=n1`, { headers: h })).json()) as {
      notifications: unknown[];
    };
    expect(r2.notifications).toEqual([]);
    await expect.poll(() => s.context.mailbox.store.totalDepth()).toBe(0);
    expect(log.lines.filter((l) => l.level === 'error')).toEqual([]);
  });

  it('an SSE stream and a held long poll end when their session token expires', async () => {
    const ttl = 2_000;
    const s = await t.server({ timing: { sessionTokenTtlMs: ttl } });
    const peer = generateIdentity();
    const token = await httpSession(s, peer);
    const sse = await SseReader.open(`${s.url}/v1/events?token=${encodeURIComponent(token)}`);
    readers.push(sse);
    await sse.waitFor((e) => e.event === 'welcome');
    // While the token is valid the stream delivers as usual.
    await post(
      `${s.url}/v1/peers/${peer.peerId}/notifications`,
      { id: 'before', body: 'x' },
      { authorization: `Bearer ${API_KEY}` },
    );
    const d = await within(
      sse.waitFor((e) => e.event === 'deliver'),
      10_000,
      'deliver',
    );
    expect(d.id).toBe('before');
    const ack = await post(
      `${s.url}/v1/acks`,
      { ids: ['before'] },
      { authorization: `Bearer ${token}` },
    );
    expect(ack.json).toEqual({ acked: 1 });
    // Then the token expires: an error event and the end of the stream, long before the
    // 15-minute-scale lifetime a stream otherwise has.
    const err = await within(
      sse.waitFor((e) => e.event === 'error'),
      15_000,
      'the stream to end at token expiry',
    );
    expect(JSON.parse(err.data)).toMatchObject({ code: 'NATPUSH_ERR_SESSION_EXPIRED' });
    await within(sse.done, 5_000, 'the end of the stream');
    expect(sse.events.filter((e) => e.event === 'deliver')).toHaveLength(1);

    // A long poll asked to wait 30 s with a token that has ~2 s left returns when it expires;
    // the next poll with it is refused.
    const t2 = await httpSession(s, peer);
    const started = Date.now();
    const r = await within(
      fetch(`${s.url}/v1/poll?wait=30000&token=${encodeURIComponent(t2)}`),
      15_000,
      'the held poll to end at token expiry',
    );
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ notifications: [] });
    expect(Date.now() - started).toBeLessThan(15_000);
    await expect
      .poll(async () => (await fetch(`${s.url}/v1/poll?wait=0&token=${t2}`)).status, {
        timeout: 5_000,
      })
      .toBe(401);
  });
});
