/**
 * `welcome` (and an HTTP client's session token) is the server saying "you are registered": it
 * must come only once the registration is durable. Round 2 found it sent before the commit, so a
 * notification racing the welcome — or a crash right after it — could find the peer unknown.
 *
 * The store's fsync is held by the test (HeldSyncStore): the registration is committed but not
 * yet durable, and nothing may welcome the peer until the test lets the fsync finish. Absence is
 * proved without a sleep: a WebSocket ping's pong comes back behind every frame the server wrote
 * before it (one TCP stream), so a `welcome` sent early would be there first.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { generateIdentity, signChallenge } from '../../../src/signaling/identity.js';
import { drained, HeldSyncStore, post, RawClient, Tracker } from './helpers.js';

const t = new Tracker();
afterEach(() => t.cleanup());

/** A server on a HeldSyncStore; a failing test's held fsync is released before the close. */
async function heldServer() {
  const store = new HeldSyncStore();
  t.closers.push(() => store.release());
  return { store, s: await t.server({ store }) };
}

describe('welcome waits for the registration to be durable', () => {
  it('over WebSocket: no welcome before the fsync; frames sent meanwhile are answered after it', async () => {
    const { store, s } = await heldServer();
    const c = await t.raw(s);
    const id = generateIdentity();
    c.send({ type: 'hello', v: 1, peer: id.peerId, publicKey: id.publicKey });
    const ch = await c.wait('challenge');
    c.send({ type: 'auth', nonce: ch.nonce, signature: signChallenge(id, ch) });
    // A client that does not wait for welcome: its frame is kept and answered after it.
    c.send({ type: 'ping', t: 1 });
    await store.held();
    await drained(c);
    expect(c.frames.map((m) => m.type)).toEqual([]);
    expect(store.peerKey(id.peerId)).toBe(id.publicKey); // committed, waiting for the fsync
    store.release();
    await c.wait('welcome');
    await c.wait('pong', (m) => m.t === 1);
    expect(c.closed).toBeUndefined();
  });

  it('over HTTP: the session token comes after the fsync', async () => {
    const { store, s } = await heldServer();
    const id = generateIdentity();
    const ch = await post(`${s.url}/v1/challenge`, { peer: id.peerId, publicKey: id.publicKey });
    let answered = false;
    const session = post(`${s.url}/v1/session`, {
      peer: id.peerId,
      publicKey: id.publicKey,
      nonce: ch.json.nonce,
      signature: signChallenge(id, ch.json),
    }).then((r) => {
      answered = true;
      return r;
    });
    await store.held();
    // The request was handled up to the commit; a response written before the fsync would be
    // on its way. A second request on another connection answered meanwhile proves the server
    // is not simply slow: the session answer is held by the fsync alone.
    const other = await fetch(`${s.url}/healthz`);
    expect(other.status).toBe(200);
    expect(answered).toBe(false);
    store.release();
    const r = await session;
    expect(r.status).toBe(200);
    expect(typeof r.json.sessionToken).toBe('string');
  });

  it('a second connection of a peer being registered waits for the same commit', async () => {
    const { store, s } = await heldServer();
    const id = generateIdentity();
    const login = async (c: RawClient) => {
      c.send({ type: 'hello', v: 1, peer: id.peerId, publicKey: id.publicKey });
      const ch = await c.wait('challenge');
      c.send({ type: 'auth', nonce: ch.nonce, signature: signChallenge(id, ch) });
    };
    const c1 = await t.raw(s);
    await login(c1);
    await store.held();
    const c2 = await t.raw(s);
    await login(c2);
    await drained(c2);
    await drained(c1);
    expect(c1.frames).toEqual([]);
    expect(c2.frames).toEqual([]);
    store.release();
    await c2.wait('welcome');
  });
});
