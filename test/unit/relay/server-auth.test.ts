/**
 * The TURN server and client on the in-memory network with a manual clock — authentication (RFC
 * 8489 §9.2): 401/438/441, nonces, static users, SHA-256 integrity. Split from server.test.ts by
 * concern (assertions unchanged); the world is turn-world.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { TurnClient } from '../../../src/relay/client/client.js';
import { mintTurnCredentials, staticUsers } from '../../../src/relay/credentials.js';
import { isTurnClientError } from '../../../src/relay/index.js';
import {
  Attr,
  longTermKey,
  Method,
  readString,
  StunClass,
  StunMessageBuilder,
  verifyIntegrity,
} from '../../../src/stun/index.js';
import {
  SERVER,
  SECRET,
  setup,
  clientHost,
  client,
  Raw,
  allocateRequest,
  code,
  closeWorld,
} from './turn-world.js';

afterEach(closeWorld);

describe('TURN server: authentication (RFC 8489 §9.2)', () => {
  it('no credentials → 401 with REALM and NONCE, without MESSAGE-INTEGRITY', async () => {
    const w = await setup({ realm: 'example.org' });
    const r = await Raw.open(w);
    const res = await r.send(allocateRequest());
    expect(code(res)).toBe(401);
    expect(readString(res, Attr.Realm)).toBe('example.org');
    expect(readString(res, Attr.Nonce)?.length).toBeGreaterThan(16);
    expect(res.has(Attr.MessageIntegrity)).toBe(false);
    expect(w.server.allocationCount).toBe(0);
  });

  it('stale nonce → 438 with a fresh nonce; the client retries on its own', async () => {
    const w = await setup({ nonceTtlSeconds: 60 });
    const r = await Raw.open(w);
    await r.challenge();
    await w.clock.advanceAsync(61_000);
    const res = await r.send(r.signed(allocateRequest()));
    expect(code(res)).toBe(438);
    const fresh = readString(res, Attr.Nonce);
    expect(fresh).not.toBe(r.nonce);
    expect(code(await r.send(r.signed(allocateRequest(), { nonce: fresh })))).toBeUndefined();

    const c = await client(w);
    await w.clock.advanceAsync(61_000);
    await c.createPermission('198.51.100.30');
    expect(c.stats.staleNonceRetries).toBe(1);
  });

  it('a nonce minted for another client address → 438', async () => {
    const w = await setup();
    const a = await Raw.open(w);
    const b = await Raw.open(w);
    await a.challenge();
    await b.challenge();
    expect(code(await b.send(b.signed(allocateRequest(), { nonce: a.nonce })))).toBe(438);
  });

  it('wrong password, unknown user, expired REST credentials → 401', async () => {
    const w = await setup();
    const r = await Raw.open(w);
    await r.challenge();
    const wrongKey = longTermKey('x', r.realm, 'nope');
    expect(code(await r.send(r.signed(allocateRequest(), { key: wrongKey })))).toBe(401);
    const expired = mintTurnCredentials(SECRET, 'old', 10, w.clock.now() - 3_600_000);
    const expiredKey = longTermKey(expired.username, r.realm, expired.password);
    expect(
      code(
        await r.send(r.signed(allocateRequest(), { username: expired.username, key: expiredKey })),
      ),
    ).toBe(401);
    await expect(
      TurnClient.allocate({
        server: SERVER,
        username: '1:x',
        password: 'bad',
        net: clientHost(w),
        clock: w.clock,
      }),
    ).rejects.toSatisfy((e) => isTurnClientError(e) && e.status === 401);
    expect(w.server.allocationCount).toBe(0);
  });

  it('a malformed attribute (USERNAME not UTF-8) → 400, not a server error', async () => {
    const w = await setup();
    const r = await Raw.open(w);
    await r.challenge();
    const b = allocateRequest()
      .addBytes(Attr.Username, Uint8Array.of(0xff, 0xfe))
      .addString(Attr.Realm, r.realm)
      .addString(Attr.Nonce, r.nonce)
      .addIntegrity(r.key);
    expect(code(await r.send(b))).toBe(400);
    expect(w.server.counters.dropped.malformed).toBe(1);
  });

  it('integrity without USERNAME/REALM/NONCE → 400', async () => {
    const w = await setup();
    const r = await Raw.open(w);
    await r.challenge();
    const res = await r.send(allocateRequest().addIntegrity(r.key));
    expect(code(res)).toBe(400);
  });

  it('static users (coturn lt-cred-mech style) and MESSAGE-INTEGRITY-SHA256 answered in kind', async () => {
    const w = await setup({ credentials: staticUsers({ bob: 'pw' }) });
    const socket = await clientHost(w).bindUdp({ port: 0 });
    w.closers.push(() => socket.close());
    const r = new Raw(socket, 'bob', 'pw');
    await r.challenge();
    const b = allocateRequest()
      .addString(Attr.Username, 'bob')
      .addString(Attr.Realm, r.realm)
      .addString(Attr.Nonce, r.nonce)
      .addIntegritySha256(r.key);
    const res = await r.send(b);
    expect(res.cls).toBe(StunClass.Success);
    expect(res.has(Attr.MessageIntegritySha256)).toBe(true);
    expect(verifyIntegrity(res, r.key, 'sha256')).toBe(true);
  });

  it('a request on an allocation made by another user → 441', async () => {
    const w = await setup({ credentials: staticUsers({ bob: 'pw', eve: 'pw2' }) });
    const socket = await clientHost(w).bindUdp({ port: 0 });
    w.closers.push(() => socket.close());
    const r = new Raw(socket, 'bob', 'pw');
    await r.challenge();
    expect(code(await r.send(r.signed(allocateRequest())))).toBeUndefined();
    const eveKey = longTermKey('eve', r.realm, 'pw2');
    const res = await r.send(
      r.signed(StunMessageBuilder.of(Method.Refresh, StunClass.Request), {
        username: 'eve',
        key: eveKey,
      }),
    );
    expect(code(res)).toBe(441);
  });
});
