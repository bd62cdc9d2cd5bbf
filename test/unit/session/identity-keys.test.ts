import { createPrivateKey, diffieHellman, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generateIdentity, identityFromPrivateKey } from '../../../src/signaling/identity.js';
import { isNatpushError } from '../../../src/util/errors.js';
import {
  x25519,
  x25519KeyPairFromIdentity,
  x25519PublicFromEd25519,
  x25519PublicFromEd25519B64u,
  x25519PublicKeyObject,
} from '../../../src/session/identity-keys.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** An Ed25519 identity from a 32-byte seed (RFC 8410 PKCS#8 DER of OID 1.3.101.112). */
function identityFromSeed(seedHex: string) {
  const der = Buffer.concat([
    Buffer.from('302e020100300506032b657004220420', 'hex'),
    Buffer.from(seedHex, 'hex'),
  ]);
  return identityFromPrivateKey(createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }));
}

describe('Ed25519 → X25519 conversion', () => {
  it("matches libsodium's test/default/ed25519_convert vector", () => {
    // libsodium test/default/ed25519_convert.c: keypair_seed used directly as the Ed25519 seed;
    // expected output in test/default/ed25519_convert.exp.
    const id = identityFromSeed('421151a459faeade3d247115f94aedae42318124095afabe4d1451a559faedee');
    const expectedPk = 'f1814f0e8ff1043d8a44d25babff3cedcae6c22c3edaa48f857ae70de2baae50';
    const expectedSk = '8052030376d47112be7f73ed7a019293dd12ad910b654455798b4667d73de166';
    expect(hex(x25519PublicFromEd25519B64u(id.publicKey))).toBe(expectedPk);
    const kp = x25519KeyPairFromIdentity(id);
    expect(hex(kp.publicKey)).toBe(expectedPk);
    const d = kp.privateKey.export({ format: 'jwk' }).d!;
    expect(Buffer.from(d, 'base64url').toString('hex')).toBe(expectedSk);
  });

  it('DH both ways agrees for random identities, and the public halves agree', () => {
    for (let i = 0; i < 20; i++) {
      const a = generateIdentity();
      const b = generateIdentity();
      const ka = x25519KeyPairFromIdentity(a);
      const kb = x25519KeyPairFromIdentity(b);
      expect(hex(ka.publicKey)).toBe(hex(x25519PublicFromEd25519B64u(a.publicKey)));
      const ab = diffieHellman({
        privateKey: ka.privateKey,
        publicKey: x25519PublicKeyObject(x25519PublicFromEd25519B64u(b.publicKey)),
      });
      const ba = x25519(kb.privateKey, x25519PublicFromEd25519B64u(a.publicKey));
      expect(hex(ab)).toBe(hex(ba));
      // A third party's key gives a different secret.
      const c = x25519KeyPairFromIdentity(generateIdentity());
      expect(hex(x25519(c.privateKey, kb.publicKey))).not.toBe(hex(ab));
    }
  });

  it('rejects malformed and small-order Ed25519 keys with a typed error', () => {
    const bad = [
      new Uint8Array(31),
      // y = 1: the identity point
      Uint8Array.from([1, ...new Array<number>(31).fill(0)]),
      // y = 0: order-4 point (u = 1)
      new Uint8Array(32),
      // y = p − 1: order-2 point (u = 0)
      Buffer.from('ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', 'hex'),
      // an order-8 point (from the well-known small-order list)
      Buffer.from('c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a', 'hex'),
      // y ≥ p (non-canonical)
      Buffer.from('eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', 'hex'),
      // y = 2 is not on the curve
      Uint8Array.from([2, ...new Array<number>(31).fill(0)]),
    ];
    for (const k of bad) {
      let err: unknown;
      try {
        x25519PublicFromEd25519(k);
      } catch (e) {
        err = e;
      }
      expect(isNatpushError(err, 'NATPUSH_ERR_SESSION_BAD_KEY'), hex(k)).toBe(true);
    }
  });

  it('x25519() refuses a small-order remote key', () => {
    const { privateKey } = generateKeyPairSync('x25519');
    expect(() => x25519(privateKey, new Uint8Array(32))).toThrow(/X25519/);
  });
});
