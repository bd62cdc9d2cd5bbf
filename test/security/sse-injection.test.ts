/**
 * Issue 8, finding 1 — SSE injection / forged sender. Notification ids (and refs, rids, topics)
 * used to accept CR/LF and were written raw into the SSE `id:` line, so any peer could append
 * its own `event: deliver` with any `from` and body (or a `retry:`, or a fake `error`) to
 * another peer's `/v1/events` stream. Now every id/ref/rid is `[A-Za-z0-9_.:-]{1,64}`, topics
 * are printable without control or bidi characters, and the SSE writer never lets a field end
 * its line. Also (item 6): the server sets `from`; a client can never choose it, on any
 * transport.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { generateIdentity, type Identity } from '../../src/signaling/identity.js';
import { sseEvent } from '../../src/signaling/http-transports.js';
import type { SignalingServer } from '../../src/signaling/server.js';
import {
  API_KEY,
  expectFatal,
  httpSession,
  post,
  Tracker,
} from '../integration/signaling/helpers.js';
import { SseReader, within } from './signaling-helpers.js';

const t = new Tracker();
const readers: SseReader[] = [];
afterEach(async () => {
  for (const r of readers.splice(0)) r.close();
  await t.cleanup();
});

async function openSse(s: SignalingServer, id: Identity): Promise<SseReader> {
  const token = await httpSession(s, id);
  const r = await SseReader.open(`${s.url}/v1/events?token=${encodeURIComponent(token)}`);
  readers.push(r);
  expect(r.status).toBe(200);
  await r.waitFor((e) => e.event === 'welcome');
  return r;
}

/** One hostile frame on a fresh authenticated connection: refused as a bad frame. */
async function refused(s: SignalingServer, frame: Record<string, unknown>): Promise<string> {
  const c = await t.raw(s);
  await c.login();
  c.send(frame);
  const answer = Promise.race([
    expectFatal(c).then((f) => f.code),
    c.wait('accepted').then(() => 'accepted'),
  ]);
  return within(answer, 5_000, `an answer to ${JSON.stringify(frame)}`);
}

describe('finding 1: SSE injection', () => {
  it('ids, refs, rids and topics with line breaks or controls are refused; the victim sees only real events', async () => {
    const s = await t.server();
    const victim = generateIdentity();
    const sse = await openSse(s, victim);
    const honest = await t.raw(s);
    const hid = await honest.login();
    const now = Date.now();
    const forged = JSON.stringify({
      id: 'forged',
      from: hid.peerId,
      to: victim.peerId,
      topic: 'bank',
      body: 'your account is locked, log in at https://evil.example',
      ts: now,
      expires: now + 60_000,
    });
    const inject = (nl: string) =>
      `x${nl}event: deliver${nl}data: ${forged}${nl}retry: 1${nl}${nl}event: error${nl}data: {}${nl}${nl}id: y`;
    const to = victim.peerId;
    const bad: Record<string, unknown>[] = [
      { type: 'notify', ref: 'r', id: inject('\n'), to, body: 'a' },
      { type: 'notify', ref: 'r', id: inject('\r'), to, body: 'a' },
      { type: 'notify', ref: 'r', id: inject('\r\n'), to, body: 'a' },
      { type: 'notify', ref: 'r', id: 'has space', to, body: 'a' },
      { type: 'notify', ref: 'r\r\nevent: x', id: 'ok1', to, body: 'a' },
      { type: 'notify', ref: 'r', id: 'ok2', to, body: 'a', topic: 'a\u001b[2Kb' },
      { type: 'notify', ref: 'r', id: 'ok3', to, body: 'a', topic: 'pay \u202eevil' },
      { type: 'notify', ref: 'r', id: 'ok4', to, body: 'a', topic: 'x\u0085y' },
      { type: 'notify', ref: 'r', id: 'ok5', to, body: 'a', topic: 'x\u2066y' },
      { type: 'candidates', to, rid: 'r\nx', candidates: [] },
      { type: 'punch', to, rid: 'r\r' },
      { type: 'ack', ids: ['ok\ny'] },
      { type: 'turn-credentials', ref: 'a\nb' },
    ];
    for (const f of bad) expect(await refused(s, f)).toBe('NATPUSH_ERR_BAD_FRAME');
    // The API-key path takes the same schema.
    const auth = { authorization: `Bearer ${API_KEY}` };
    const url = `${s.url}/v1/peers/${to}/notifications`;
    for (const b of [
      { id: inject('\r\n'), body: 'a' },
      { id: 'ok6', body: 'a', topic: '\u200fx' },
    ]) {
      const r = await post(url, b, auth);
      expect(r.status).toBe(400);
      expect(r.json.error.code).toBe('NATPUSH_ERR_BAD_FRAME');
    }
    expect(s.context.mailbox.store.totalDepth()).toBe(0);

    // The honest peer's notification arrives exactly once, as itself.
    honest.send({ type: 'notify', ref: 'h', id: 'honest-1', to, topic: 'hello', body: 'hi' });
    await honest.wait('accepted');
    const got = await within(
      sse.waitFor((e) => e.event === 'deliver'),
      10_000,
      'deliver over SSE',
    );
    const token = await httpSession(s, victim);
    const ack = await post(
      `${s.url}/v1/acks`,
      { ids: ['honest-1'] },
      {
        authorization: `Bearer ${token}`,
      },
    );
    expect(ack.status).toBe(200);
    await expect.poll(() => s.context.mailbox.store.totalDepth()).toBe(0);
    expect(got.id).toBe('honest-1');
    const events = sse.events.filter((e) => e.event !== 'welcome');
    expect(events.map((e) => e.event)).toEqual(['deliver']);
    expect(events.flatMap((e) => e.fields)).not.toContain('retry');
    const n = JSON.parse(events[0]!.data) as { id: string; from: string; body: string };
    expect(n).toMatchObject({ id: 'honest-1', from: hid.peerId, body: 'hi' });
  });

  it('the SSE writer never lets a field end its line (rows stored before the schema)', () => {
    const evil = 'a\r\nevent: deliver\r\ndata: {"from":"x"}\r\n\r\n';
    const text = sseEvent({ id: evil, event: 'deliver', data: `{"a":1}\n${evil}` });
    // One event, and every line is a field the writer meant to write.
    expect(text.endsWith('\n\n')).toBe(true);
    const lines = text.slice(0, -2).split(/\r\n|\r|\n/);
    expect(lines.filter((l) => l === '')).toEqual([]);
    expect(lines.every((l) => /^(event: deliver|data: .*)$/.test(l))).toBe(true);
    expect(lines.filter((l) => l.startsWith('event:'))).toHaveLength(1);
    expect(() => sseEvent({ event: 'deliver\nevent: x', data: '' })).toThrow(TypeError);
  });
});

describe('item 6: the server sets `from`', () => {
  it('a notify carrying its own `from` is refused; what arrives over SSE and long-poll names the real sender', async () => {
    const s = await t.server();
    const sseVictim = generateIdentity();
    const pollVictim = generateIdentity();
    const sse = await openSse(s, sseVictim);
    const pollToken = await httpSession(s, pollVictim);
    const honest = await t.raw(s);
    const hid = await honest.login();
    for (const to of [sseVictim.peerId, pollVictim.peerId]) {
      expect(
        await refused(s, { type: 'notify', ref: 'r', id: 'f1', to, body: 'x', from: hid.peerId }),
      ).toBe('NATPUSH_ERR_BAD_FRAME');
    }
    const r = await post(
      `${s.url}/v1/peers/${sseVictim.peerId}/notifications`,
      { id: 'f2', body: 'x', from: hid.peerId },
      { authorization: `Bearer ${API_KEY}` },
    );
    expect(r.json.error.code).toBe('NATPUSH_ERR_BAD_FRAME');
    // A real attacker message: accepted, but labelled with the attacker's own id.
    const attacker = await t.raw(s);
    const aid = await attacker.login();
    for (const [id, to] of [
      ['from-attacker', sseVictim.peerId],
      ['from-attacker-2', pollVictim.peerId],
    ] as const) {
      attacker.send({ type: 'notify', ref: 'a', id, to, body: 'hello' });
      await within(attacker.wait('accepted'), 5_000, 'accepted');
    }
    const e = await within(
      sse.waitFor((x) => x.event === 'deliver'),
      10_000,
      'deliver over SSE',
    );
    expect(JSON.parse(e.data)).toMatchObject({ id: 'from-attacker', from: aid.peerId });
    const p = await fetch(`${s.url}/v1/poll?wait=5000&token=${encodeURIComponent(pollToken)}`);
    const body = (await p.json()) as { notifications: { id: string; from: string }[] };
    expect(body.notifications).toEqual([
      expect.objectContaining({ id: 'from-attacker-2', from: aid.peerId }),
    ]);
  });
});
