import { describe, expect, it } from 'vitest';
import {
  base32,
  challengeText,
  generateIdentity,
  identityFromPem,
  identityToPem,
  isPeerId,
  peerIdFromPublicKey,
  signChallenge,
  verifySignature,
} from '../../../src/signaling/identity.js';

describe('identity', () => {
  it.each([
    ['', ''],
    ['f', 'my'],
    ['fo', 'mzxq'],
    ['foo', 'mzxw6'],
    ['foob', 'mzxw6yq'],
    ['fooba', 'mzxw6ytb'],
    ['foobar', 'mzxw6ytboi'],
  ])('base32 matches RFC 4648 §10 vector %j', (input, want) => {
    expect(base32(Buffer.from(input))).toBe(want);
  });

  it('derives a 32-char peer id from the public key, stable across PEM round trips', () => {
    const id = generateIdentity();
    expect(isPeerId(id.peerId)).toBe(true);
    expect(peerIdFromPublicKey(id.publicKey)).toBe(id.peerId);
    const again = identityFromPem(identityToPem(id));
    expect(again.peerId).toBe(id.peerId);
    expect(generateIdentity().peerId).not.toBe(id.peerId);
  });

  it('signs a challenge that verifies only for the same server, nonce, expiry and peer', () => {
    const id = generateIdentity();
    const c = { server: 's1', nonce: 'n1', expires: 123 };
    const sig = signChallenge(id, c);
    expect(verifySignature(id.publicKey, challengeText({ ...c, peer: id.peerId }), sig)).toBe(true);
    for (const bad of [
      { ...c, server: 's2', peer: id.peerId },
      { ...c, nonce: 'n2', peer: id.peerId },
      { ...c, expires: 124, peer: id.peerId },
      { ...c, peer: generateIdentity().peerId },
    ]) {
      expect(verifySignature(id.publicKey, challengeText(bad), sig)).toBe(false);
    }
    expect(
      verifySignature(generateIdentity().publicKey, challengeText({ ...c, peer: id.peerId }), sig),
    ).toBe(false);
    expect(verifySignature('not-a-key', Buffer.from('x'), sig)).toBe(false);
    expect(verifySignature(id.publicKey, Buffer.from('x'), 'AAAA')).toBe(false);
  });

  it('rejects public keys of the wrong length', () => {
    expect(() => peerIdFromPublicKey(Buffer.alloc(31).toString('base64url'))).toThrow(RangeError);
  });
});
