import { afterEach, describe, expect, it } from 'vitest';
import { generateIdentity, signChallenge } from '../../../src/signaling/identity.js';
import type { Notification } from '../../../src/signaling/protocol.js';
import { API_KEY, httpSession, post, sseStream, Tracker } from './helpers.js';

const t = new Tracker();
afterEach(() => t.cleanup());
const auth = { authorization: `Bearer ${API_KEY}` };

/** An SSE reader (helpers.ts), closed with the test. */
function sse(url: string, token: string) {
  const stream = sseStream(url, token);
  t.closers.push(stream.close);
  return stream;
}

describe('HTTP API', () => {
  it('POST /v1/peers/{id}/notifications stores for an offline peer; GET /v1/peers/{id} shows presence and depth', async () => {
    const s = await t.server();
    const id = generateIdentity();
    await httpSession(s, id);
    const r = await post(
      `${s.url}/v1/peers/${id.peerId}/notifications`,
      { body: 'b1', topic: 'x' },
      auth,
    );
    expect(r.status).toBe(202);
    expect(r.json).toMatchObject({ online: false, duplicate: false });
    expect(typeof r.json.id).toBe('string');
    const p = await fetch(`${s.url}/v1/peers/${id.peerId}`, { headers: auth });
    expect(await p.json()).toEqual({ peer: id.peerId, online: false, mailbox: 1 });
    const h = await (await fetch(`${s.url}/healthz`)).json();
    expect(h).toMatchObject({ ok: true, mailbox: 1 });
    const m = await (await fetch(`${s.url}/metrics`)).text();
    expect(m).toContain('natpush_notifications_in_total{path="http"} 1');
    expect(m).toContain('natpush_mailbox_depth 1');
  });

  it.each([
    ['no API key', {}, { body: 'x' }, 401, 'NATPUSH_ERR_API_KEY_REQUIRED'],
    [
      'wrong API key',
      { authorization: 'Bearer nope' },
      { body: 'x' },
      401,
      'NATPUSH_ERR_API_KEY_REQUIRED',
    ],
    ['malformed JSON', auth, '{"body":', 400, 'NATPUSH_ERR_BAD_FRAME'],
    ['unknown field', auth, { body: 'x', evil: 1 }, 400, 'NATPUSH_ERR_BAD_FRAME'],
    ['body too large', auth, { body: 'x'.repeat(20_000) }, 400, 'NATPUSH_ERR_BAD_FRAME'],
    ['request too large', auth, { body: 'x'.repeat(70_000) }, 413, 'NATPUSH_ERR_BODY_TOO_LARGE'],
  ])('POST with %s', async (_n, headers, body, status, code) => {
    const s = await t.server();
    const id = generateIdentity();
    await httpSession(s, id);
    const r = await post(
      `${s.url}/v1/peers/${id.peerId}/notifications`,
      body,
      headers as Record<string, string>,
    );
    expect(r.status).toBe(status);
    expect(r.json.error.code).toBe(code);
  });

  it('unknown or malformed peer ids, unknown routes', async () => {
    const s = await t.server();
    const unknown = generateIdentity().peerId;
    expect(
      (await post(`${s.url}/v1/peers/${unknown}/notifications`, { body: 'x' }, auth)).json.error
        .code,
    ).toBe('NATPUSH_ERR_UNKNOWN_PEER');
    expect(
      (await post(`${s.url}/v1/peers/NOT-AN-ID/notifications`, { body: 'x' }, auth)).status,
    ).toBe(400);
    expect((await fetch(`${s.url}/v1/nothing`)).status).toBe(404);
    expect((await fetch(`${s.url}/v1/peers/${unknown}`)).status).toBe(401);
  });

  it('HTTP rate per address: above the burst, 429 RATE_LIMITED', async () => {
    const s = await t.server({ limits: { httpRatePerSecond: 1, httpRateBurst: 5 } });
    const id = generateIdentity();
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) {
      const r = await post(`${s.url}/v1/peers/${id.peerId}/notifications`, { body: 'x' }, auth);
      statuses.push(r.status);
      if (r.status === 429) expect(r.json.error.code).toBe('NATPUSH_ERR_RATE_LIMITED');
    }
    expect(statuses.slice(0, 5).every((x) => x === 404)).toBe(true); // unknown peer, but answered
    expect(statuses.slice(5)).toEqual([429, 429, 429]);
    expect((await fetch(`${s.url}/healthz`)).status).toBe(200); // health is never rate-limited
  });

  it('mailbox quota: a full mailbox answers 507 MAILBOX_FULL', async () => {
    const s = await t.server({ limits: { mailboxQuota: 2 } });
    const id = generateIdentity();
    await httpSession(s, id);
    const url = `${s.url}/v1/peers/${id.peerId}/notifications`;
    expect((await post(url, { body: '1' }, auth)).status).toBe(202);
    expect((await post(url, { body: '2' }, auth)).status).toBe(202);
    const r = await post(url, { body: '3' }, auth);
    expect(r.status).toBe(507);
    expect(r.json.error.code).toBe('NATPUSH_ERR_MAILBOX_FULL');
  });

  it('HTTP challenge: replayed session request and bad signature are refused', async () => {
    const s = await t.server();
    const id = generateIdentity();
    const c = await post(`${s.url}/v1/challenge`, { peer: id.peerId, publicKey: id.publicKey });
    const body = {
      peer: id.peerId,
      publicKey: id.publicKey,
      nonce: c.json.nonce,
      signature: signChallenge(id, c.json),
    };
    expect((await post(`${s.url}/v1/session`, body)).status).toBe(200);
    const replay = await post(`${s.url}/v1/session`, body);
    expect(replay.status).toBe(401);
    expect(replay.json.error.code).toBe('NATPUSH_ERR_CHALLENGE_REPLAYED');
    const c2 = await post(`${s.url}/v1/challenge`, { peer: id.peerId, publicKey: id.publicKey });
    const bad = await post(`${s.url}/v1/session`, {
      ...body,
      nonce: c2.json.nonce,
      signature: signChallenge(generateIdentity(), c2.json),
    });
    expect(bad.json.error.code).toBe('NATPUSH_ERR_BAD_SIGNATURE');
    expect((await fetch(`${s.url}/v1/poll?token=forged`)).status).toBe(401);
  });

  it('SSE: delivers in order, retries until acked via POST /v1/acks, presence says sse', async () => {
    const s = await t.server({ timing: { retryAfterMs: 200 } });
    const id = generateIdentity();
    const token = await httpSession(s, id);
    const url = `${s.url}/v1/peers/${id.peerId}/notifications`;
    await post(url, { body: 'one', id: 'e1' }, auth);
    const stream = sse(s.url, token);
    await stream.next('welcome');
    expect((await stream.next('deliver')).id).toBe('e1');
    expect(
      (
        (await (await fetch(`${s.url}/v1/peers/${id.peerId}`, { headers: auth })).json()) as {
          transport: string;
        }
      ).transport,
    ).toBe('sse');
    await post(url, { body: 'two', id: 'e2' }, auth);
    expect((await stream.next('deliver')).id).toBe('e2');
    // not acked yet: both come again after retryAfterMs
    const again = new Set<string>();
    while (again.size < 2) again.add((await stream.next('deliver')).id);
    expect([...again].sort()).toEqual(['e1', 'e2']);
    const ack = await post(
      `${s.url}/v1/acks`,
      { ids: ['e1', 'e2'] },
      { authorization: `Bearer ${token}` },
    );
    expect(ack.status).toBe(200);
    await expect
      .poll(
        async () =>
          ((await (await fetch(`${s.url}/healthz`)).json()) as { mailbox: number }).mailbox,
      )
      .toBe(0);
    stream.close();
  });

  it('long-poll: waits for a notification, acks on the next poll, nothing is lost', async () => {
    const s = await t.server();
    const id = generateIdentity();
    const token = await httpSession(s, id);
    const h = { authorization: `Bearer ${token}` };
    const first = await (await fetch(`${s.url}/v1/poll?wait=0`, { headers: h })).json();
    expect(first).toEqual({ notifications: [] });
    const waiting = fetch(`${s.url}/v1/poll?wait=5000`, { headers: h });
    await post(`${s.url}/v1/peers/${id.peerId}/notifications`, { body: 'p1', id: 'p1' }, auth);
    const got = (await (await waiting).json()) as { notifications: Notification[] };
    expect(got.notifications.map((n) => n.id)).toEqual(['p1']);
    expect(
      (
        (await (await fetch(`${s.url}/v1/peers/${id.peerId}`, { headers: auth })).json()) as {
          transport: string;
        }
      ).transport,
    ).toBe('poll');
    const next = await (await fetch(`${s.url}/v1/poll?wait=0&ack=p1`, { headers: h })).json();
    expect(next).toEqual({ notifications: [] });
    await expect
      .poll(
        async () =>
          ((await (await fetch(`${s.url}/healthz`)).json()) as { mailbox: number }).mailbox,
      )
      .toBe(0);
  });
});
