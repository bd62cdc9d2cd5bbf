/**
 * One key pair per peer: the Ed25519 identity (src/signaling/identity.ts) also serves as the
 * peer's X25519 Noise static key, so a session is bound to the peer id without certificates.
 *
 * Ed25519 (twisted Edwards, RFC 8032) and X25519 (Montgomery, RFC 7748) are birationally
 * equivalent: RFC 7748 §4.1 gives  u = (1 + y) / (1 − y)  mod p,  p = 2^255 − 19.
 * - public:  decode y (little-endian, top bit = sign of x, cleared), map it to u.
 * - private: the Ed25519 secret scalar is clamp(SHA-512(seed)[0..32]) (RFC 8032 §5.1.5); the same
 *   scalar times the Montgomery base point gives exactly that u, so the X25519 private key is the
 *   same 32 bytes. This is libsodium's crypto_sign_ed25519_pk_to_curve25519 /
 *   crypto_sign_ed25519_sk_to_curve25519, checked against its test vector in
 *   test/unit/session/identity-keys.test.ts.
 *
 * Using one key for signatures and DH is sound for this pair (Thormarker, "On using the same key
 * pair for Ed25519 and an X25519 based KEM", 2021) and is what libsodium, age and Signal's XEd25519
 * rely on.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  type KeyObject,
} from 'node:crypto';
import type { Identity } from '../signaling/identity.js';
import { SessionError, SessionErrorCode } from './errors.js';

const P = (1n << 255n) - 19n;
/** Edwards d = −121665/121666 mod p (RFC 8032 §5.1). */
const D = mod(-121665n * modInverse(121666n));

/**
 * u-coordinates of the X25519 points of small order (0, 1, and the two of order 8), as listed in
 * Bernstein's "Curve25519 small-order points" and libsodium's blocklist. A static key equal to
 * one of these would make every DH output predictable, so a peer may not claim one.
 */
const SMALL_ORDER_U = new Set<bigint>([
  0n,
  1n,
  325606250916557431795983626356110631294008115727848805560023387167927233504n,
  39382357235489614581723060781553021112529911719440698176882885853963445705823n,
  P - 1n,
]);

// PKCS#8 DER prefix of an X25519 private key (RFC 8410 §7/§10: OID 1.3.101.110).
const X25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

export const X25519_KEY_BYTES = 32;

/** An X25519 key pair in the shapes Noise needs: raw public bytes, private KeyObject. */
export interface X25519KeyPair {
  readonly publicKey: Uint8Array;
  readonly privateKey: KeyObject;
}

/**
 * RFC 7748 §4.1 map of a raw 32-byte Ed25519 public key to the X25519 public key.
 * Throws `NATPUSH_ERR_SESSION_BAD_KEY` for bytes that are not a canonical point on the curve or that
 * map to a small-order point (the key came from the network, so this is an operational error).
 */
export function x25519PublicFromEd25519(ed25519Public: Uint8Array): Uint8Array {
  if (ed25519Public.length !== 32)
    throw new SessionError(SessionErrorCode.BAD_KEY, `Ed25519 public key must be 32 bytes`);
  const cacheKey = Buffer.from(ed25519Public).toString('base64url');
  const hit = publicCache.get(cacheKey);
  if (hit) {
    // Refresh recency (Map iteration order is insertion order: oldest first).
    publicCache.delete(cacheKey);
    publicCache.set(cacheKey, hit);
    return Uint8Array.from(hit);
  }
  const u = convertPublic(ed25519Public);
  publicCache.set(cacheKey, u);
  if (publicCache.size > PUBLIC_CACHE_ENTRIES) publicCache.delete(publicCache.keys().next().value!);
  return Uint8Array.from(u);
}

/**
 * Converted public keys, LRU. The BigInt map costs ~0.5 ms and every handshake or sealed message
 * needs one; a peer talks to few others. Bound: 1024 entries (≈ 100 KiB), the size of a contact
 * list (LIMITS.maxAllowedPeers); only successful conversions are cached.
 */
const PUBLIC_CACHE_ENTRIES = 1024;
const publicCache = new Map<string, Uint8Array>();

function convertPublic(ed25519Public: Uint8Array): Uint8Array {
  const signBit = (ed25519Public[31]! & 0x80) !== 0;
  const y = bytesToBigLE(ed25519Public) & ((1n << 255n) - 1n);
  // RFC 8032 §5.1.3 decoding: y must be canonical, and x² = (y² − 1)/(d·y² + 1) must be a square.
  if (y >= P) throw new SessionError(SessionErrorCode.BAD_KEY, 'Ed25519 y is not canonical');
  // num/den is a square iff num·den is (den² is a square), which saves an inversion.
  const y2 = mod(y * y);
  const num = mod(y2 - 1n);
  const den = mod(D * y2 + 1n);
  const x2IsZero = num === 0n;
  if (!x2IsZero && modPow(mod(num * den), (P - 1n) / 2n) !== 1n)
    throw new SessionError(SessionErrorCode.BAD_KEY, 'Ed25519 public key is not on the curve');
  if (x2IsZero && signBit)
    throw new SessionError(SessionErrorCode.BAD_KEY, 'Ed25519 public key has x = 0 with sign 1');
  if (y === 1n) throw new SessionError(SessionErrorCode.BAD_KEY, 'Ed25519 identity point');
  const u = mod((1n + y) * modInverse(mod(1n - y)));
  if (SMALL_ORDER_U.has(u))
    throw new SessionError(SessionErrorCode.BAD_KEY, 'Ed25519 public key has small order');
  return bigToBytesLE(u);
}

/** Same as `x25519PublicFromEd25519` for a base64url key (the form identities travel in). */
export function x25519PublicFromEd25519B64u(ed25519PublicB64u: string): Uint8Array {
  return x25519PublicFromEd25519(Buffer.from(ed25519PublicB64u, 'base64url'));
}

/**
 * The identity's X25519 key pair: scalar = clamp(SHA-512(seed)[0..32]) as libsodium's
 * crypto_sign_ed25519_sk_to_curve25519. The public half is computed from the private key (not
 * converted from the Ed25519 public key) so the two can never disagree.
 */
export function x25519KeyPairFromIdentity(identity: Identity): X25519KeyPair {
  const key = identity.privateKey;
  const cached = keyPairCache.get(key);
  if (cached) return cached;
  const kp = convertPrivate(key);
  keyPairCache.set(key, kp);
  return kp;
}

/** Per identity key, weakly held (an identity lives as long as its peer; ~1.5 ms to derive). */
const keyPairCache = new WeakMap<KeyObject, X25519KeyPair>();

function convertPrivate(key: KeyObject): X25519KeyPair {
  if (key.type !== 'private' || key.asymmetricKeyType !== 'ed25519')
    throw new TypeError('identity.privateKey must be an Ed25519 private key');
  const d = key.export({ format: 'jwk' }).d;
  if (typeof d !== 'string') throw new TypeError('cannot export the Ed25519 seed');
  const seed = Buffer.from(d, 'base64url');
  const scalar = createHash('sha512').update(seed).digest().subarray(0, 32);
  seed.fill(0);
  // RFC 7748 §5 clamping (X25519 clamps again internally; libsodium stores it clamped).
  scalar[0]! &= 248;
  scalar[31]! &= 127;
  scalar[31]! |= 64;
  const privateKey = x25519PrivateKeyObject(scalar);
  scalar.fill(0);
  return { publicKey: x25519PublicOf(privateKey), privateKey };
}

/** A private X25519 KeyObject from 32 raw bytes (RFC 8410 PKCS#8). */
export function x25519PrivateKeyObject(raw: Uint8Array): KeyObject {
  if (raw.length !== X25519_KEY_BYTES) throw new RangeError('X25519 private key must be 32 bytes');
  return createPrivateKey({
    key: Buffer.concat([X25519_PKCS8_PREFIX, raw]),
    format: 'der',
    type: 'pkcs8',
  });
}

/**
 * A public X25519 KeyObject from 32 raw bytes. Via JWK (RFC 8037), not SPKI DER: on Node 20 /
 * OpenSSL 3 the DER decoder costs ~125 µs a key, the JWK path ~13 µs — more than the DH itself.
 */
export function x25519PublicKeyObject(raw: Uint8Array): KeyObject {
  if (raw.length !== X25519_KEY_BYTES) throw new RangeError('X25519 public key must be 32 bytes');
  return createPublicKey({
    key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(raw).toString('base64url') },
    format: 'jwk',
  });
}

/** Raw 32-byte public key of an X25519 private KeyObject (JWK export: ~1 µs, DER ~100 µs). */
export function x25519PublicOf(privateKey: KeyObject): Uint8Array {
  const x = createPublicKey(privateKey).export({ format: 'jwk' }).x;
  if (typeof x !== 'string') throw new TypeError('cannot export the X25519 public key');
  return new Uint8Array(Buffer.from(x, 'base64url'));
}

/**
 * X25519(privateKey, remotePublic). OpenSSL refuses an all-zero result (a small-order remote key,
 * RFC 7748 §6.1 "check for the all-zero value"); that surfaces as `NATPUSH_ERR_SESSION_BAD_KEY`.
 */
export function x25519(privateKey: KeyObject, remotePublic: Uint8Array | KeyObject): Buffer {
  let out: Buffer;
  try {
    const publicKey =
      remotePublic instanceof Uint8Array ? x25519PublicKeyObject(remotePublic) : remotePublic;
    out = diffieHellman({ privateKey, publicKey });
  } catch (cause) {
    throw new SessionError(SessionErrorCode.BAD_KEY, 'X25519 failed (small-order key?)', { cause });
  }
  if (out.every((b) => b === 0))
    throw new SessionError(SessionErrorCode.BAD_KEY, 'X25519 produced the all-zero value');
  return out;
}

function mod(a: bigint): bigint {
  const r = a % P;
  return r < 0n ? r + P : r;
}

function modPow(base: bigint, exp: bigint): bigint {
  let result = 1n;
  let b = mod(base);
  let e = exp;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % P;
    b = (b * b) % P;
    e >>= 1n;
  }
  return result;
}

/** Fermat inverse, a^(p−2); 0 maps to 0 (callers rule that case out first). */
function modInverse(a: bigint): bigint {
  return modPow(a, P - 2n);
}

function bytesToBigLE(bytes: Uint8Array): bigint {
  let v = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]!);
  return v;
}

function bigToBytesLE(v: bigint): Uint8Array {
  const out = new Uint8Array(32);
  let x = v;
  for (let i = 0; i < 32; i++) {
    out[i] = Number(x & 0xffn);
    x >>= 8n;
  }
  return out;
}
