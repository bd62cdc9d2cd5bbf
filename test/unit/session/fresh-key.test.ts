/**
 * Keys from fresh-key.ts (no KeyGenJob: see its header for the Node 20 deadlock): they are the
 * curve's real keys — the public half libsodium computed is the one node:crypto derives from the
 * private bytes, DH agrees, Ed25519 signatures verify — and no two are alike.
 */
import { createPublicKey, diffieHellman, sign, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { freshPrivateKey } from '../../../src/session/fresh-key.js';
import { generateIdentity } from '../../../src/signaling/identity.js';

describe('freshPrivateKey', () => {
  it('X25519: a real key pair, and two sides agree on the shared secret', () => {
    const a = freshPrivateKey('x25519');
    const b = freshPrivateKey('x25519');
    expect(a.asymmetricKeyType).toBe('x25519');
    const ab = diffieHellman({ privateKey: a, publicKey: createPublicKey(b) });
    const ba = diffieHellman({ privateKey: b, publicKey: createPublicKey(a) });
    expect(ab.length).toBe(32);
    expect(ab.equals(ba)).toBe(true);
    // The JWK's x (from libsodium when it loads) is the public key of d.
    const jwk = a.export({ format: 'jwk' });
    expect(createPublicKey(a).export({ format: 'jwk' }).x).toBe(jwk.x);
  });

  it('Ed25519: signatures verify with the public half, and identities differ', () => {
    const k = freshPrivateKey('ed25519');
    expect(k.asymmetricKeyType).toBe('ed25519');
    const msg = Buffer.from('natpush');
    expect(verify(null, msg, createPublicKey(k), sign(null, msg, k))).toBe(true);
    const ids = new Set(Array.from({ length: 50 }, () => generateIdentity().peerId));
    expect(ids.size).toBe(50);
  });
});
