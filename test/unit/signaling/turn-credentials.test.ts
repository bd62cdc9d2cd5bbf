/**
 * The `turn-credentials` request/reply: schemas, and the pure issuer that mints TURN REST
 * credentials bound to a peer id (checked with the relay's own verifier, `sharedSecret`).
 */
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { restUsernameExpiry, sharedSecret } from '../../../src/relay/credentials.js';
import { LIMITS } from '../../../src/signaling/constants.js';
import {
  clientMessage,
  decodeFrame,
  serverMessage,
  turnCredentialsReply,
} from '../../../src/signaling/protocol.js';
import { turnCredentialIssuer, turnUriHost } from '../../../src/signaling/turn-credentials.js';

const P = 'a'.repeat(32);
const NOW = 1_700_000_000_000;
const reply = {
  type: 'turn-credentials',
  ref: 'r1',
  username: `1700003600:${P}`,
  password: 'qL0rXxg0dW0dDsTqO7Ei0CPs1ko=',
  ttl: 3600,
  expires: 1700003600,
  urls: ['turn:203.0.113.1:3479?transport=udp', 'turn:203.0.113.1:3479?transport=tcp'],
};

describe('turn-credentials schema', () => {
  it('accepts the request (client) and the reply (server)', () => {
    expect(decodeFrame(clientMessage, '{"type":"turn-credentials","ref":"r1"}')).toEqual({
      type: 'turn-credentials',
      ref: 'r1',
    });
    expect(decodeFrame(serverMessage, JSON.stringify(reply))).toEqual(reply);
  });

  it.each([
    ['request without ref', clientMessage, { type: 'turn-credentials' }],
    ['request with extra field', clientMessage, { type: 'turn-credentials', ref: 'r', ttl: 5 }],
    ['username without peer id', serverMessage, { ...reply, username: '1700003600' }],
    ['username with a foreign user', serverMessage, { ...reply, username: '1700003600:alice' }],
    ['password not base64', serverMessage, { ...reply, password: 'not base64!' }],
    ['ttl 0', serverMessage, { ...reply, ttl: 0 }],
    ['ttl over the max', serverMessage, { ...reply, ttl: LIMITS.maxTurnCredentialTtlSeconds + 1 }],
    ['no urls', serverMessage, { ...reply, urls: [] }],
    ['a url that is not turn:', serverMessage, { ...reply, urls: ['http://x/'] }],
    ['too many urls', serverMessage, { ...reply, urls: Array(5).fill(reply.urls[0]) }],
  ] as const)('rejects %s', (_name, schema, frame) => {
    const z: z.ZodType<unknown> = schema;
    expect(() => decodeFrame(z, JSON.stringify(frame))).toThrow(
      expect.objectContaining({ code: 'NATPUSH_ERR_BAD_FRAME' }),
    );
  });
});

describe('turnCredentialIssuer', () => {
  const issuer = turnCredentialIssuer({ secret: 's3cret', udpPort: 3479, tcpPort: 3480 });

  it('binds the peer id, defaults to 1 h, and the relay verifies the password', () => {
    const c = issuer.issue(P, '192.0.2.7', NOW);
    expect(c.ttl).toBe(LIMITS.turnCredentialTtlSeconds);
    expect(c.ttl).toBe(3600);
    expect(c.username).toBe(`${NOW / 1000 + 3600}:${P}`);
    expect(c.expires).toBe(restUsernameExpiry(c.username));
    const store = sharedSecret('s3cret');
    expect(store.userOf(c.username)).toBe(P);
    expect(store.password(c.username, 'natpush', NOW)).toBe(c.password);
    // One second past the expiry the relay has no password for it (→ 401).
    expect(store.password(c.username, 'natpush', (c.expires + 1) * 1000)).toBeUndefined();
    expect(sharedSecret('other').password(c.username, 'natpush', NOW)).not.toBe(c.password);
    expect(turnCredentialsReply.parse({ type: 'turn-credentials', ref: 'r', ...c })).toBeTruthy();
  });

  it('advertises the address the peer connected to, or the configured public host', () => {
    expect(issuer.issue(P, '192.0.2.7', NOW).urls).toEqual([
      'turn:192.0.2.7:3479?transport=udp',
      'turn:192.0.2.7:3480?transport=tcp',
    ]);
    expect(issuer.issue(P, '::ffff:192.0.2.7', NOW).urls[0]).toBe(
      'turn:192.0.2.7:3479?transport=udp',
    );
    expect(issuer.issue(P, '2001:db8::1', NOW).urls[0]).toBe(
      'turn:[2001:db8::1]:3479?transport=udp',
    );
    const pub = turnCredentialIssuer({
      secret: 's',
      udpPort: 3479,
      publicHost: 'turn.example.org',
      ttlSeconds: 60,
    });
    const c = pub.issue(P, '10.0.0.5', NOW);
    expect(c.urls).toEqual(['turn:turn.example.org:3479?transport=udp']);
    expect(c.ttl).toBe(60);
    expect(turnUriHost('::1')).toBe('[::1]');
  });

  it('refuses programmer misuse at construction', () => {
    expect(() => turnCredentialIssuer({ secret: '', udpPort: 1 })).toThrow(TypeError);
    expect(() => turnCredentialIssuer({ secret: 's', udpPort: 0 })).toThrow(RangeError);
    expect(() => turnCredentialIssuer({ secret: 's', udpPort: 1, ttlSeconds: 0 })).toThrow(
      RangeError,
    );
    expect(() => turnCredentialIssuer({ secret: 's', udpPort: 1, ttlSeconds: 2 * 86400 })).toThrow(
      RangeError,
    );
    expect(() => turnCredentialIssuer({ secret: 's', udpPort: 1, publicHost: 'a b' })).toThrow(
      TypeError,
    );
  });
});
