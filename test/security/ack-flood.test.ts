/**
 * Issue 8, finding 2 — ack flood → out of memory. Acks of ids that were never in flight to the
 * acking peer used to be recorded in an unbounded map (~11k ack frames took the server from
 * 84 MB to 571 MB). Now an ack may only name a notification in flight to that peer — over
 * WebSocket, `POST /v1/acks` and the poll's `?ack=` alike; anything else is dropped, counted
 * (`natpush_dropped_frames_total{reason="unknown_ack"}`) and never stored.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { generateIdentity } from '../../src/signaling/identity.js';
import { allow, httpSession, post, Tracker } from '../integration/signaling/helpers.js';
import { within } from './signaling-helpers.js';

const t = new Tracker();
afterEach(() => t.cleanup());

const fakeIds = (n: number) =>
  Array.from({ length: n }, () => randomBytes(16).toString('base64url'));

describe('finding 2: ack flood', () => {
  it('made-up acks over WebSocket, POST /v1/acks and ?ack= are dropped and counted, never stored; honest acks still work', async () => {
    const s = await t.server();
    const ctx = s.context;
    const a = await t.raw(s);
    const b = await t.raw(s);
    const attacker = await t.raw(s);
    const aid = await a.login();
    const bid = await b.login();
    await attacker.login();
    await allow(b, [aid.peerId]);

    // An honest notification is in flight to B while the attacker floods.
    a.send({ type: 'notify', ref: 'r0', id: 'honest-0', to: bid.peerId, body: 'zero' });
    await b.wait('deliver', (m) => m.n.id === 'honest-0');

    // 1. WebSocket: 150 frames × 256 made-up ids (within the connection's burst), plus the id
    //    in flight to B, which the attacker must not be able to ack away.
    let sent = 0;
    for (let i = 0; i < 150; i++) {
      const ids = fakeIds(256);
      if (i === 0) ids[0] = 'honest-0';
      attacker.send({ type: 'ack', ids });
      sent += ids.length;
    }
    attacker.send({ type: 'ping', t: 1 });
    await within(attacker.wait('pong'), 10_000, 'the attacker is still served (frames in order)');

    // 2. HTTP: POST /v1/acks and the long poll's ?ack= with a session token of a fresh peer.
    const token = await httpSession(s, generateIdentity());
    const auth = { authorization: `Bearer ${token}` };
    for (let i = 0; i < 20; i++) {
      const r = await post(`${s.url}/v1/acks`, { ids: fakeIds(256) }, auth);
      expect(r).toEqual({ status: 200, json: { acked: 0 } });
      sent += 256;
    }
    for (let i = 0; i < 5; i++) {
      const r = await fetch(`${s.url}/v1/poll?ack=${fakeIds(100).join(',')}`, { headers: auth });
      expect(r.status).toBe(200);
      await r.text();
      sent += 100;
    }

    // Every made-up id was dropped and counted; none is held anywhere.
    expect(ctx.metrics.drops.get({ reason: 'unknown_ack', type: 'ack' })).toBe(sent);
    expect(ctx.delivery.tableSizes.ackLabels).toBe(0);
    expect(ctx.delivery.inflightCount(bid.peerId)).toBe(1);
    expect(ctx.mailbox.store.depth(bid.peerId)).toBe(1);

    // The honest peer's flow is untouched: each notification once, each acked once, each
    // reported `delivered` to the sender once.
    b.send({ type: 'ack', ids: ['honest-0', ...fakeIds(10)] });
    for (let i = 1; i <= 5; i++)
      a.send({ type: 'notify', ref: `r${i}`, id: `honest-${i}`, to: bid.peerId, body: `n${i}` });
    const got: string[] = [];
    while (got.length < 5) {
      const d = await within(b.wait('deliver'), 10_000, 'honest deliveries');
      got.push(d.n.id);
      b.send({ type: 'ack', ids: [d.n.id] });
    }
    expect(got).toEqual(['honest-1', 'honest-2', 'honest-3', 'honest-4', 'honest-5']);
    const delivered: string[] = [];
    while (delivered.length < 6) {
      delivered.push((await within(a.wait('delivered'), 10_000, 'delivered')).id);
    }
    expect(delivered.sort()).toEqual(['honest-0', ...got].sort());
    await expect.poll(() => ctx.mailbox.store.totalDepth()).toBe(0);
    expect(b.frames.filter((f) => f.type === 'deliver')).toEqual([]);
    expect(ctx.metrics.drops.get({ reason: 'unknown_ack', type: 'ack' })).toBe(sent + 10);
    expect(ctx.delivery.tableSizes).toEqual({ routes: 4, inflight: 0, ackLabels: 0 }); // 3 WebSockets + 1 poll;
  });

  it('an ack that reaches the server after a reconnect, before the resend, still counts', async () => {
    const s = await t.server();
    const a = await t.raw(s);
    const aid = await a.login();
    const bid = generateIdentity();
    const b1 = await t.raw(s);
    await b1.login(bid);
    a.send({ type: 'notify', ref: 'r', id: 'keep-1', to: bid.peerId, body: 'x' });
    await b1.wait('deliver');
    b1.ws.terminate();
    await expect.poll(() => s.context.delivery.session(bid.peerId)).toBeUndefined();
    // Over HTTP with no session at all: the id was in flight on the dead connection.
    const token = await httpSession(s, bid);
    const r = await post(
      `${s.url}/v1/acks`,
      { ids: ['keep-1'] },
      { authorization: `Bearer ${token}` },
    );
    expect(r.json).toEqual({ acked: 1 });
    await expect.poll(() => s.context.mailbox.store.totalDepth()).toBe(0);
    expect(aid.peerId).toBeTruthy();
  });
});
