import { createHash, createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { longTermKey, PasswordAlgorithm } from '../../../src/stun/index.js';
import {
  mintTurnCredentials,
  restPassword,
  restUsernameExpiry,
  sharedSecret,
  staticUsers,
} from '../../../src/relay/credentials.js';
import { NonceMinter } from '../../../src/relay/nonce.js';

describe('long-term credential keys (RFC 8489 §9.2.2)', () => {
  it('MD5(username:realm:password): the vector of pion/stun integrity_test.go', () => {
    // pion/stun TestMessageIntegrity: NewLongTermIntegrity("user", "realm", "pass").
    expect(longTermKey('user', 'realm', 'pass').toString('hex')).toBe(
      '8493fbc53ba582fb4c044c456bdc40eb',
    );
  });

  it('SHA-256 variant is 32 bytes of SHA-256 over the same string', () => {
    const key = longTermKey('u', 'r', 'p', PasswordAlgorithm.SHA256);
    expect(key.length).toBe(32);
    expect(key.equals(createHash('sha256').update('u:r:p').digest())).toBe(true);
    expect(key.equals(longTermKey('u', 'r', 'p', PasswordAlgorithm.MD5))).toBe(false);
  });
});

describe('TURN REST short-lived credentials (coturn use-auth-secret)', () => {
  it('username is expiry:user and password base64(HMAC-SHA1(secret, username))', () => {
    const c = mintTurnCredentials('north', 'alice', 3600, 1_700_000_000_000);
    expect(c.username).toBe('1700003600:alice');
    expect(c.expiresAt).toBe(1_700_003_600);
    expect(c.password).toBe(
      createHmac('sha1', 'north').update('1700003600:alice').digest('base64'),
    );
    expect(restPassword('north', c.username)).toBe(c.password);
  });

  it('accepts a binary secret like coturn static-auth-secret', () => {
    const expected = createHmac('sha1', Buffer.from('s3cret')).update('12345:bob').digest('base64');
    expect(restPassword(Buffer.from('s3cret'), '12345:bob')).toBe(expected);
  });

  it('the shared-secret store accepts unexpired usernames only and reports the user id', () => {
    const store = sharedSecret('k');
    const c = mintTurnCredentials('k', 'bob', 60, 1_000_000);
    expect(store.password(c.username, 'r', 1_000_000)).toBe(c.password);
    expect(store.password(c.username, 'r', 1_000_000 + 61_000)).toBeUndefined();
    expect(store.password('bob', 'r', 0)).toBeUndefined();
    expect(store.userOf(c.username)).toBe('bob');
    expect(restUsernameExpiry('99:x:y')).toBe(99);
    expect(restUsernameExpiry('x:99')).toBeUndefined();
  });

  it('misuse throws', () => {
    expect(() => mintTurnCredentials('', 'a')).toThrow(TypeError);
    expect(() => mintTurnCredentials('s', 'a:b')).toThrow(TypeError);
    expect(() => mintTurnCredentials('s', 'a', 0)).toThrow(RangeError);
    expect(() => sharedSecret('')).toThrow(TypeError);
  });

  it('static users', () => {
    const s = staticUsers({ alice: 'pw' });
    expect(s.password('alice', 'r', 0)).toBe('pw');
    expect(s.password('eve', 'r', 0)).toBeUndefined();
  });
});

describe('stateless nonces (RFC 8489 §9.2)', () => {
  const m = new NonceMinter(600, Buffer.alloc(32, 1));

  it('a fresh nonce is valid for its client until it expires, then stale', () => {
    const n = m.mint('1.2.3.4:5', 1000);
    expect(n.length).toBeLessThan(128);
    expect(m.check(n, '1.2.3.4:5', 1000)).toBe('valid');
    expect(m.check(n, '1.2.3.4:5', 1000 + 600_000)).toBe('valid');
    expect(m.check(n, '1.2.3.4:5', 1000 + 600_001)).toBe('stale');
  });

  it('is bound to the client and cannot be forged or extended', () => {
    const n = m.mint('1.2.3.4:5', 1000);
    expect(m.check(n, '1.2.3.4:6', 1000)).toBe('invalid');
    const extended = 'ffffffffffff' + n.slice(12);
    expect(m.check(extended, '1.2.3.4:5', 1000)).toBe('invalid');
    expect(m.check('short', '1.2.3.4:5', 1000)).toBe('invalid');
    expect(new NonceMinter(600, Buffer.alloc(32, 2)).check(n, '1.2.3.4:5', 1000)).toBe('invalid');
    expect(() => new NonceMinter(0)).toThrow(RangeError);
  });
});
