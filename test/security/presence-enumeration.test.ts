/**
 * Issue 8, finding 5 — presence enumeration. Any registered peer could read any peer's online
 * state and mailbox size (`GET /v1/peers/{id}`, `watch`), and unknown ids answered differently.
 * Now presence belongs to the watched peer: it reaches only the peers its `allow` list names
 * (CONTRACTS.md §1), everybody else sees exactly what they see for an id that never registered
 * — in `presence`, in `accepted.online`, in `delivered`, and in the (non-)answers to rendezvous
 * frames (`candidates`, `punch`, `p2p`), which are dropped silently unless allowed. GET
 * /v1/peers/{id} is for the API key only; a session token gets the same 401 for every id.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { generateIdentity } from '../../src/signaling/identity.js';
import type { ServerMessage } from '../../src/signaling/protocol.js';
import {
  allow,
  API_KEY,
  httpSession,
  type RawClient,
  Tracker,
} from '../integration/signaling/helpers.js';
import { within } from './signaling-helpers.js';

const t = new Tracker();
afterEach(() => t.cleanup());

/** Frames `c` got up to now, after a round trip proves the server handled what it sent. */
async function settle(c: RawClient): Promise<ServerMessage[]> {
  const tt = Math.random();
  c.send({ type: 'ping', t: tt });
  await within(
    c.wait('pong', (m) => m.t === tt),
    10_000,
    'pong',
  );
  return c.frames.splice(0);
}

const cand = [{ type: 'host', protocol: 'udp', address: '192.0.2.1', port: 5000 }];

describe('finding 5: presence enumeration', () => {
  it('a stranger learns nothing it would not learn about an unknown id; the friend sees everything', async () => {
    const s = await t.server();
    const victim = await t.raw(s);
    const friend = await t.raw(s);
    const stranger = await t.raw(s);
    const vid = await victim.login();
    const fid = await friend.login();
    const xid = await stranger.login();
    const nobody = generateIdentity().peerId;
    await allow(victim, [fid.peerId]);
    await allow(friend, [vid.peerId]);

    // watch: the victim looks exactly like a peer that never registered.
    stranger.send({ type: 'watch', peers: [vid.peerId, nobody] });
    friend.send({ type: 'watch', peers: [vid.peerId] });
    const seen = await settle(stranger);
    expect(seen).toEqual([
      { type: 'presence', peer: vid.peerId, online: false },
      { type: 'presence', peer: nobody, online: false },
    ]);
    expect(await settle(friend)).toEqual([
      { type: 'presence', peer: vid.peerId, online: true, transport: 'websocket' },
    ]);

    // Rendezvous frames from the stranger: no answer, whether the target exists or not, and
    // nothing reaches the victim (the friend's p2p afterwards arrives first).
    for (const to of [vid.peerId, nobody]) {
      stranger.send({ type: 'candidates', to, rid: 'r1', candidates: cand });
      stranger.send({ type: 'punch', to, rid: 'r1' });
      stranger.send({ type: 'p2p', to, data: 'AAAA' });
    }
    expect(await settle(stranger)).toEqual([]);
    friend.send({ type: 'p2p', to: vid.peerId, data: 'ZnJpZW5k' });
    expect(await within(victim.wait('p2p'), 10_000, 'p2p')).toEqual({
      type: 'p2p',
      from: fid.peerId,
      data: 'ZnJpZW5k',
    });
    expect(victim.frames).toEqual([]);
    expect(s.context.metrics.drops.get({ reason: 'rendezvous_refused', type: 'candidates' })).toBe(
      2,
    );

    // notify: a stranger's notification is delivered (mail is not presence), but its
    // `accepted` says offline and no `delivered` ever comes back.
    stranger.send({ type: 'notify', ref: 'x', id: 'from-stranger', to: vid.peerId, body: 's' });
    friend.send({ type: 'notify', ref: 'f', id: 'from-friend', to: vid.peerId, body: 'f' });
    expect(await within(stranger.wait('accepted'), 10_000, 'accepted')).toMatchObject({
      online: false,
    });
    expect(await within(friend.wait('accepted'), 10_000, 'accepted')).toMatchObject({
      online: true,
    });
    const got: string[] = [];
    while (got.length < 2) {
      const d = await within(victim.wait('deliver'), 10_000, 'deliver');
      got.push(d.n.id);
      victim.send({ type: 'ack', ids: [d.n.id] });
    }
    expect(got.sort()).toEqual(['from-friend', 'from-stranger']);
    expect(await within(friend.wait('delivered'), 10_000, 'delivered')).toMatchObject({
      id: 'from-friend',
    });
    await expect.poll(() => s.context.mailbox.store.totalDepth()).toBe(0);

    // The victim goes offline and back: the stranger is told nothing, the friend everything.
    victim.ws.close();
    expect(await within(friend.wait('presence'), 10_000, 'offline')).toMatchObject({
      online: false,
    });
    const back = await t.raw(s);
    await back.login(vid);
    await allow(back, [fid.peerId]);
    expect(await within(friend.wait('presence'), 10_000, 'online')).toMatchObject({
      online: true,
    });
    expect(await settle(stranger)).toEqual([]);

    // Revoking the friend hides the victim from it at once; `anyone` shows it to everybody.
    await allow(back, []);
    expect(await settle(friend)).toEqual([{ type: 'presence', peer: vid.peerId, online: false }]);
    await allow(back, [], true);
    expect(await settle(stranger)).toEqual([
      { type: 'presence', peer: vid.peerId, online: true, transport: 'websocket' },
    ]);
    expect(xid.peerId).not.toBe(vid.peerId);
  });

  it('GET /v1/peers/{id}: a session token gets one answer for known, unknown, hidden and malformed ids; the API key sees presence', async () => {
    const s = await t.server();
    const victim = await t.raw(s);
    const vid = await victim.login();
    const stranger = generateIdentity();
    const token = await httpSession(s, stranger);
    const answers = [];
    for (const id of [vid.peerId, generateIdentity().peerId, stranger.peerId, 'NOT-AN-ID']) {
      for (const h of [{ authorization: `Bearer ${token}` }, {} as Record<string, string>]) {
        const r = await fetch(`${s.url}/v1/peers/${id}`, { headers: h });
        answers.push({ status: r.status, body: await r.text() });
      }
      const q = await fetch(`${s.url}/v1/peers/${id}?token=${encodeURIComponent(token)}`);
      answers.push({ status: q.status, body: await q.text() });
    }
    expect(new Set(answers.map((a) => JSON.stringify(a))).size).toBe(1);
    expect(answers[0]!.status).toBe(401);
    expect(JSON.parse(answers[0]!.body).error.code).toBe('NATPUSH_ERR_API_KEY_REQUIRED');
    const r = await fetch(`${s.url}/v1/peers/${vid.peerId}`, {
      headers: { authorization: `Bearer ${API_KEY}` },
    });
    expect(await r.json()).toMatchObject({ peer: vid.peerId, online: true, mailbox: 0 });
  });
});
