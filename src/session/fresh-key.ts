/**
 * Fresh Ed25519 and X25519 private keys made without node:crypto's key-generation job.
 *
 * Why not `generateKeyPairSync`: on Node 20 (seen on 20.20.2, in CI and in the unit tier) reading
 * the public half of a key that it made can deadlock the main thread for good. `export({ format:
 * 'jwk' })` holds the key's mutex while it allocates strings; a garbage collection during that
 * allocation runs the finished KeyGenJob's destructor, which takes the same mutex (gdb: futex wait
 * in `~KeyGenJob` under `ExportJWKEdKey`). A key imported from bytes has no job, so nothing else
 * ever takes its mutex behind our back.
 *
 * How: 32 random bytes; with libsodium (sodium-native, as for the session AEAD) the public half
 * comes from `crypto_scalarmult_base` / `crypto_sign_seed_keypair` and the key is imported as a
 * JWK (RFC 8037; ≈ 80 µs, like key generation). Without the addon the bytes are imported as
 * PKCS#8 DER (RFC 8410), which OpenSSL 3 decodes slowly (≈ 0.8 ms) but without a job either.
 */
import { createPrivateKey, randomBytes, type KeyObject } from 'node:crypto';
import { createRequire } from 'node:module';

/** The subset of sodium-native used here (the package ships no types). */
interface SodiumKeys {
  crypto_scalarmult_base(q: Buffer, n: Buffer): void;
  crypto_sign_seed_keypair(pk: Buffer, sk: Buffer, seed: Buffer): void;
}

function loadSodium(): SodiumKeys | undefined {
  try {
    const s = createRequire(import.meta.url)('sodium-native') as Partial<SodiumKeys>;
    if (
      typeof s.crypto_scalarmult_base === 'function' &&
      typeof s.crypto_sign_seed_keypair === 'function'
    )
      return s as SodiumKeys;
  } catch {
    // no prebuilt addon for this platform: the DER path below
  }
  return undefined;
}

const sodium = loadSodium();

/** RFC 8410 PKCS#8 prefixes of a 32-byte private key. */
const PKCS8_PREFIX = {
  x25519: Buffer.from('302e020100300506032b656e04220420', 'hex'),
  ed25519: Buffer.from('302e020100300506032b657004220420', 'hex'),
} as const;

/** A new random private key of `kind`, from a CSPRNG, with no KeyGenJob behind it. */
export function freshPrivateKey(kind: 'x25519' | 'ed25519'): KeyObject {
  const d = randomBytes(32);
  const sk = Buffer.alloc(64);
  try {
    if (sodium) {
      const x = Buffer.alloc(32);
      if (kind === 'x25519') sodium.crypto_scalarmult_base(x, d);
      else sodium.crypto_sign_seed_keypair(x, sk, d);
      return createPrivateKey({
        key: {
          kty: 'OKP',
          crv: kind === 'x25519' ? 'X25519' : 'Ed25519',
          d: d.toString('base64url'),
          x: x.toString('base64url'),
        },
        format: 'jwk',
      });
    }
    const der = Buffer.concat([PKCS8_PREFIX[kind], d]);
    try {
      return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
    } finally {
      der.fill(0);
    }
  } finally {
    d.fill(0);
    sk.fill(0);
  }
}
