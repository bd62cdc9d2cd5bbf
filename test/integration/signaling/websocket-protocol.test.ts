import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { generateIdentity, signChallenge } from '../../../src/signaling/identity.js';
import { mintPeerToken } from '../../../src/signaling/admission.js';
import { LIMITS } from '../../../src/signaling/constants.js';
import { allow, API_KEY, expectFatal, post, RawClient, Tracker } from './helpers.js';

const t = new Tracker();
afterEach(() => t.cleanup());

describe('signaling over WebSocket: every message type', () => {
  it('hello/challenge/auth/welcome, notify/accepted/deliver/ack/delivered, ping/pong', async () => {
    const s = await t.server();
    const a = await t.raw(s);
    const b = await t.raw(s);
    const aid = await a.login();
    const bid = await b.login();
    await allow(b, [aid.peerId]);
    a.send({ type: 'ping', t: 7 });
    expect((await a.wait('pong')).t).toBe(7);
    a.send({
      type: 'notify',
      ref: 'r1',
      id: 'n1',
      to: bid.peerId,
      topic: 'greet',
      body: 'hi',
      ttl: 60,
    });
    const acc = await a.wait('accepted');
    expect(acc).toMatchObject({ ref: 'r1', id: 'n1', online: true, duplicate: false });
    const d = await b.wait('deliver');
    expect(d.n).toMatchObject({ id: 'n1', to: bid.peerId, topic: 'greet', body: 'hi' });
    expect(d.n.expires - d.n.ts).toBe(60_000);
    b.send({ type: 'ack', ids: ['n1'] });
    expect(await a.wait('delivered')).toMatchObject({ id: 'n1', to: bid.peerId, via: 'websocket' });
    // Same id again: idempotent, flagged duplicate... it was acked and removed, so it is new again
    a.send({ type: 'notify', ref: 'r2', id: 'n2', to: bid.peerId, body: 'x' });
    a.send({ type: 'notify', ref: 'r3', id: 'n2', to: bid.peerId, body: 'x' });
    expect(await a.wait('accepted', (m) => m.ref === 'r3')).toMatchObject({ duplicate: true });
  });

  it('watch/presence follows a peer online and offline (once it allows the watcher)', async () => {
    const s = await t.server();
    const a = await t.raw(s);
    const aid = await a.login();
    const bid = generateIdentity();
    a.send({ type: 'watch', peers: [bid.peerId] });
    expect(await a.wait('presence')).toMatchObject({ peer: bid.peerId, online: false });
    const b = await t.raw(s);
    await b.login(bid);
    b.send({ type: 'allow', peers: [aid.peerId], anyone: false });
    expect(await a.wait('presence')).toMatchObject({
      peer: bid.peerId,
      online: true,
      transport: 'websocket',
    });
    b.ws.close();
    expect(await a.wait('presence')).toMatchObject({ peer: bid.peerId, online: false });
  });

  it('rendezvous: candidates are forwarded and punch-start reaches both sides with the same instant', async () => {
    const s = await t.server();
    const a = await t.raw(s);
    const b = await t.raw(s);
    const aid = await a.login();
    const bid = await b.login();
    await allow(a, [bid.peerId]);
    await allow(b, [aid.peerId]);
    const cand = [{ type: 'srflx', protocol: 'udp', address: '203.0.113.7', port: 40000 }];
    const ice = { ufrag: 'Ab+/', pwd: 'p'.repeat(22) };
    a.send({ type: 'candidates', to: bid.peerId, rid: 'r', candidates: cand, ...ice });
    expect(await b.wait('candidates')).toEqual({
      type: 'candidates',
      from: aid.peerId,
      rid: 'r',
      candidates: cand,
      ...ice,
    });
    const before = Date.now();
    a.send({ type: 'punch', to: bid.peerId, rid: 'r' });
    const pa = await a.wait('punch-start');
    const pb = await b.wait('punch-start');
    expect(pa.at).toBe(pb.at);
    expect(pa.from).toBe(bid.peerId);
    expect(pb.from).toBe(aid.peerId);
    expect(pa.at).toBeGreaterThan(before);
    // The server knows both RTTs from the login round trip already (no ping has run yet).
    expect(pa.rtt).toBeGreaterThan(0);
    expect(pb.rtt).toBe(pa.rtt);
    // to an offline peer: dropped without an answer (an answer would reveal presence), counted
    a.send({ type: 'punch', to: generateIdentity().peerId, rid: 'q' });
    await expect
      .poll(() => s.context.metrics.drops.get({ reason: 'rendezvous_refused', type: 'punch' }))
      .toBe(1);
    // p2p datagrams ride the server while there is no UDP path
    const data = Buffer.from('session datagram').toString('base64url');
    b.send({ type: 'p2p', to: aid.peerId, data });
    expect(await a.wait('p2p')).toEqual({ type: 'p2p', from: bid.peerId, data });
    // key-request: the key a peer registered with; unknown ids get a non-fatal UNKNOWN_PEER
    a.send({ type: 'key-request', ref: 'k1', peer: bid.peerId });
    expect(await a.wait('key')).toEqual({
      type: 'key',
      ref: 'k1',
      peer: bid.peerId,
      publicKey: bid.publicKey,
    });
    a.send({ type: 'key-request', ref: 'k2', peer: generateIdentity().peerId });
    expect(await a.wait('error')).toMatchObject({
      code: 'NATPUSH_ERR_UNKNOWN_PEER',
      ref: 'k2',
      fatal: false,
    });
  });
});

describe('signaling over WebSocket: bad input gets a typed error frame and a close', () => {
  it('bad signature', async () => {
    const s = await t.server();
    const c = await t.raw(s);
    const id = generateIdentity();
    c.send({ type: 'hello', v: 1, peer: id.peerId, publicKey: id.publicKey });
    const ch = await c.wait('challenge');
    c.send({ type: 'auth', nonce: ch.nonce, signature: signChallenge(generateIdentity(), ch) });
    expect(await expectFatal(c)).toEqual({ code: 'NATPUSH_ERR_BAD_SIGNATURE', wsCode: 1008 });
  });

  it('replayed challenge answer on a new connection', async () => {
    const s = await t.server();
    const id = generateIdentity();
    const c1 = await t.raw(s);
    c1.send({ type: 'hello', v: 1, peer: id.peerId, publicKey: id.publicKey });
    const ch = await c1.wait('challenge');
    const auth = { type: 'auth', nonce: ch.nonce, signature: signChallenge(id, ch) };
    c1.send(auth);
    await c1.wait('welcome');
    const c2 = await t.raw(s);
    c2.send({ type: 'hello', v: 1, peer: id.peerId, publicKey: id.publicKey });
    await c2.wait('challenge');
    c2.send(auth);
    expect((await expectFatal(c2)).code).toBe('NATPUSH_ERR_CHALLENGE_REPLAYED');
  });

  it('public key that does not match the claimed peer id', async () => {
    const s = await t.server();
    const c = await t.raw(s);
    const id = generateIdentity();
    const other = generateIdentity();
    c.send({ type: 'hello', v: 1, peer: id.peerId, publicKey: other.publicKey });
    const ch = await c.wait('challenge');
    c.send({ type: 'auth', nonce: ch.nonce, signature: signChallenge(other, ch) });
    expect((await expectFatal(c)).code).toBe('NATPUSH_ERR_PEER_ID_MISMATCH');
  });

  it.each([
    ['malformed JSON', '{"type":', 'NATPUSH_ERR_BAD_FRAME'],
    ['schema mismatch', JSON.stringify({ type: 'hello', v: 1 }), 'NATPUSH_ERR_BAD_FRAME'],
    ['unknown type', JSON.stringify({ type: 'gimme' }), 'NATPUSH_ERR_BAD_FRAME'],
    ['notify before auth', JSON.stringify({ type: 'ping', t: 1 }), 'NATPUSH_ERR_NOT_AUTHENTICATED'],
    [
      'unsupported version',
      JSON.stringify({ type: 'hello', v: 2, peer: 'a'.repeat(32), publicKey: 'AA' }),
      'NATPUSH_ERR_UNSUPPORTED_VERSION',
    ],
  ])('%s', async (_n, text, code) => {
    const s = await t.server();
    const c = await t.raw(s);
    c.send(text);
    expect((await expectFatal(c)).code).toBe(code);
    // the server is still fine
    const ok = await t.raw(s);
    await ok.login();
  });

  it('binary frame', async () => {
    const s = await t.server();
    const c = await t.raw(s);
    c.ws.send(Buffer.from([1, 2, 3]));
    expect((await expectFatal(c)).code).toBe('NATPUSH_ERR_BAD_FRAME');
  });

  it('oversized frame: error frame under the hard cap, a 1009 close above it', async () => {
    const s = await t.server({ limits: { maxFrameBytes: 1024, wsHardMaxPayload: 8192 } });
    const c = await t.raw(s);
    await c.login();
    c.send('x'.repeat(2000));
    expect(await expectFatal(c)).toEqual({ code: 'NATPUSH_ERR_FRAME_TOO_LARGE', wsCode: 1009 });
    const d = await t.raw(s);
    d.send('x'.repeat(10_000));
    expect((await d.waitClose()).code).toBe(1009);
  });

  it('notify to an unknown peer is a non-fatal error for that ref', async () => {
    const s = await t.server();
    const c = await t.raw(s);
    await c.login();
    c.send({ type: 'notify', ref: 'r9', id: 'i9', to: generateIdentity().peerId, body: 'x' });
    expect(await c.wait('error')).toMatchObject({
      code: 'NATPUSH_ERR_UNKNOWN_PEER',
      ref: 'r9',
      fatal: false,
    });
    c.send({ type: 'ping', t: 1 });
    await c.wait('pong');
  });

  it('the same id from another sender is another notification (ids are unique per sender and recipient)', async () => {
    const s = await t.server();
    const a = await t.raw(s);
    const b = await t.raw(s);
    const r = await t.raw(s);
    await a.login();
    await b.login();
    const rid = await r.login();
    r.ws.close();
    a.send({ type: 'notify', ref: 'x', id: 'same', to: rid.peerId, body: '1' });
    await a.wait('accepted');
    b.send({ type: 'notify', ref: 'y', id: 'same', to: rid.peerId, body: '2' });
    expect(await b.wait('accepted')).toMatchObject({ ref: 'y', duplicate: false });
  });

  it('flood: more frames than the rate allows gets RATE_LIMITED and a close', async () => {
    const s = await t.server({ limits: { ratePerSecond: 50, rateBurst: 20 } });
    const c = await t.raw(s);
    await c.login();
    for (let i = 0; i < 100; i++) c.send({ type: 'ping', t: i });
    expect((await expectFatal(c)).code).toBe('NATPUSH_ERR_RATE_LIMITED');
  });

  it('sizes: a peer may notify a sealed 24 KiB body, an API key 16 KiB; p2p data at most 1400 bytes and charged to the rate', async () => {
    const s = await t.server({ limits: { ratePerSecond: 1, rateBurst: 20 } });
    const a = await t.raw(s);
    const b = await t.raw(s);
    const aid = await a.login();
    const bid = await b.login();
    await allow(b, [aid.peerId]);
    const sealed = 'S'.repeat(LIMITS.maxSealedBodyBytes);
    a.send({ type: 'notify', ref: 'big', id: 'big', to: bid.peerId, body: sealed });
    expect(await a.wait('accepted')).toMatchObject({ id: 'big' });
    expect((await b.wait('deliver')).n.body).toBe(sealed);
    const r = await post(
      `${s.url}/v1/peers/${bid.peerId}/notifications`,
      { body: 'x'.repeat(LIMITS.maxBodyBytes + 1) },
      { authorization: `Bearer ${API_KEY}` },
    );
    expect(r.json.error.code).toBe('NATPUSH_ERR_BAD_FRAME');
    // p2p: every frame takes a token (2 went to the login, 1 to the notify); past the burst
    // of 20 it is a flood.
    const data = Buffer.alloc(LIMITS.maxP2pDataBytes, 7).toString('base64url');
    for (let i = 0; i < 17; i++) a.send({ type: 'p2p', to: bid.peerId, data });
    for (let i = 0; i < 17; i++) expect((await b.wait('p2p')).data).toBe(data);
    // (a few more than the burst leaves, in case the bucket refilled a token meanwhile)
    for (let i = 0; i < 10; i++) a.send({ type: 'p2p', to: bid.peerId, data });
    expect((await expectFatal(a)).code).toBe('NATPUSH_ERR_RATE_LIMITED');
    const c = await t.raw(s);
    await c.login();
    const tooBig = Buffer.alloc(LIMITS.maxP2pDataBytes + 1).toString('base64url');
    c.send({ type: 'p2p', to: bid.peerId, data: tooBig });
    expect((await expectFatal(c)).code).toBe('NATPUSH_ERR_BAD_FRAME');
  });

  it('connections per address', async () => {
    const s = await t.server({ limits: { maxConnectionsPerAddress: 2 } });
    await t.raw(s);
    await t.raw(s);
    const third = await t.raw(s);
    expect((await expectFatal(third)).code).toBe('NATPUSH_ERR_TOO_MANY_CONNECTIONS');
  });

  it('handshake timeout', async () => {
    const s = await t.server({ timing: { handshakeTimeoutMs: 100 } });
    const c = await t.raw(s);
    expect((await expectFatal(c)).code).toBe('NATPUSH_ERR_HANDSHAKE_TIMEOUT');
  });

  it('admission: peer token required, static and HMAC tokens admit', async () => {
    const s = await t.server({ peerTokens: ['sekrit'] });
    const c = await t.raw(s);
    const id = generateIdentity();
    c.send({ type: 'hello', v: 1, peer: id.peerId, publicKey: id.publicKey });
    expect((await expectFatal(c)).code).toBe('NATPUSH_ERR_ADMISSION_DENIED');
    await (await t.raw(s)).login(generateIdentity(), 'sekrit');
    const id2 = generateIdentity();
    await (
      await t.raw(s)
    ).login(id2, mintPeerToken('sekrit', id2.peerId, Math.floor(Date.now() / 1000) + 60));
  });

  it('a second connection of the same peer replaces the first', async () => {
    const s = await t.server();
    const id = generateIdentity();
    const c1 = await t.raw(s);
    await c1.login(id);
    const c2 = await t.raw(s);
    await c2.login(id);
    expect((await expectFatal(c1)).code).toBe('NATPUSH_ERR_REPLACED');
  });

  it('graceful shutdown tells connected peers SHUTTING_DOWN and closes with 1001', async () => {
    const s = await t.server();
    const c = await t.raw(s);
    await c.login();
    const fatal = expectFatal(c);
    await s.close();
    expect(await fatal).toEqual({ code: 'NATPUSH_ERR_SHUTTING_DOWN', wsCode: 1001 });
  });

  it('wrong path and wrong subprotocol are refused at upgrade', async () => {
    const s = await t.server();
    const ws = new WebSocket(s.url.replace('http', 'ws') + '/nope');
    const err = await new Promise((r) => ws.once('error', r));
    expect(String(err)).toMatch(/404/);
    const raw = await RawClient.open(s.url).catch((e: unknown) => e);
    expect(raw).toBeInstanceOf(RawClient);
    (raw as RawClient).ws.terminate();
  });
});
