/**
 * The WebSocket gateway's per-address connection cap counts an IPv6 client by its /64 (one
 * subscriber's prefix, RFC 7934 §4: an attacker holding a /64 has 2^64 addresses) and an
 * IPv4-mapped address as its IPv4 address — the key the HTTP limits use (stun/rate-limiter.ts
 * sourceKey). Loopback has one address per family, so the test names the client's address in a
 * header and sets it on the socket before the gateway sees the upgrade.
 */
import type { IncomingMessage } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { expectFatal, RawClient, Tracker } from './helpers.js';
import type { SignalingServer } from '../../../src/signaling/server.js';

const t = new Tracker();
afterEach(() => t.cleanup());

const HEADER = 'x-test-remote-address';

async function server(): Promise<SignalingServer> {
  const s = await t.server({ limits: { maxConnectionsPerAddress: 2 } });
  s.http.prependListener('upgrade', (req: IncomingMessage) => {
    const a = req.headers[HEADER];
    if (typeof a === 'string')
      Object.defineProperty(req.socket, 'remoteAddress', { value: a, configurable: true });
  });
  return s;
}

async function from(s: SignalingServer, address: string): Promise<RawClient> {
  const c = await RawClient.open(s.url, { headers: { [HEADER]: address } });
  t.sockets.push(c);
  return c;
}

/** The connection is served: it logs in. */
async function served(c: RawClient): Promise<void> {
  expect((await c.login()).peerId).toMatch(/./);
}

describe('ws-gateway: connections per address', () => {
  it('IPv6: counted per /64; another /64 is not affected; a closed connection frees its slot', async () => {
    const s = await server();
    const a = await from(s, '2001:db8:1:2::a');
    await from(s, '2001:db8:1:2:ffff:ffff:ffff:1');
    const third = await from(s, '2001:db8:1:2::3');
    expect((await expectFatal(third)).code).toBe('NATPUSH_ERR_TOO_MANY_CONNECTIONS');
    await served(await from(s, '2001:db8:1:3::a'));
    a.ws.close();
    await a.waitClose();
    // The slot is free again once the server saw the close: until then a new connection from
    // the /64 is refused, so poll with fresh connections.
    await expect
      .poll(
        async () => {
          const c = await from(s, '2001:db8:1:2::4');
          return c.login().then(
            () => true,
            () => false,
          );
        },
        { timeout: 15_000 },
      )
      .toBe(true);
  });

  it('IPv4-mapped IPv6 counts as its IPv4 address', async () => {
    const s = await server();
    await from(s, '192.0.2.7');
    await from(s, '::ffff:192.0.2.7');
    const third = await from(s, '::FFFF:192.0.2.7');
    expect((await expectFatal(third)).code).toBe('NATPUSH_ERR_TOO_MANY_CONNECTIONS');
  });
});
