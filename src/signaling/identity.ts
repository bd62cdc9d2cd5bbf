/**
 * Peer identity: an Ed25519 key pair (RFC 8032). The peer id is derived from the public key, so
 * nobody can claim an id without holding its private key; the server admits a peer only after it
 * signs a fresh challenge (see protocol.ts).
 *
 * peer id = base32 (RFC 4648 §6, lowercase, no padding) of the first 20 bytes of
 *           SHA-256(raw 32-byte public key)  →  32 characters of [a-z2-7].
 * 160 bits is far beyond any birthday collision (2^80 work) for a namespace of peers.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  sign as cryptoSign,
  verify as cryptoVerify,
  type KeyObject,
} from 'node:crypto';
import { freshPrivateKey } from '../session/fresh-key.js';

const PEER_ID_BYTES = 20;
const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

/** 32 chars of lowercase RFC 4648 base32. */
export const PEER_ID_PATTERN = /^[a-z2-7]{32}$/;

export function base32(bytes: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

/** Peer id of a raw 32-byte Ed25519 public key given as base64url. */
export function peerIdFromPublicKey(publicKeyB64u: string): string {
  const raw = Buffer.from(publicKeyB64u, 'base64url');
  if (raw.length !== 32)
    throw new RangeError(`Ed25519 public key must be 32 bytes, got ${raw.length}`);
  return base32(createHash('sha256').update(raw).digest().subarray(0, PEER_ID_BYTES));
}

export function isPeerId(s: string): boolean {
  return PEER_ID_PATTERN.test(s);
}

/** An identity held in memory: the key pair, its raw public key and its peer id. */
export interface Identity {
  readonly peerId: string;
  /** Raw 32-byte public key, base64url. */
  readonly publicKey: string;
  readonly privateKey: KeyObject;
}

export function generateIdentity(): Identity {
  // Not generateKeyPairSync: exporting its key can deadlock on Node 20 (fresh-key.ts).
  return identityFromPrivateKey(freshPrivateKey('ed25519'));
}

export function identityFromPrivateKey(privateKey: KeyObject): Identity {
  if (privateKey.asymmetricKeyType !== 'ed25519')
    throw new TypeError('identity key must be Ed25519');
  const jwk = createPublicKey(privateKey).export({ format: 'jwk' });
  const publicKey = jwk.x;
  if (typeof publicKey !== 'string') throw new TypeError('cannot export the Ed25519 public key');
  return { peerId: peerIdFromPublicKey(publicKey), publicKey, privateKey };
}

/** Parse a PKCS#8 PEM private key (the identity file's format). */
export function identityFromPem(pem: string): Identity {
  return identityFromPrivateKey(createPrivateKey({ key: pem, format: 'pem' }));
}

export function identityToPem(id: Identity): string {
  return id.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
}

/**
 * The exact bytes a peer signs to answer a challenge. Binding the server id, the peer id and the
 * expiry into the signed text means a signature cannot be replayed to another server, for
 * another peer, or after the challenge expired; the nonce is single use on the server.
 */
export function challengeText(c: {
  server: string;
  nonce: string;
  expires: number;
  peer: string;
}): Buffer {
  return Buffer.from(`natpush-auth-v1\n${c.server}\n${c.nonce}\n${c.expires}\n${c.peer}`, 'utf8');
}

export function signChallenge(
  id: Identity,
  c: { server: string; nonce: string; expires: number },
): string {
  return cryptoSign(null, challengeText({ ...c, peer: id.peerId }), id.privateKey).toString(
    'base64url',
  );
}

/** True when `signature` (base64url) is `publicKey`'s Ed25519 signature over `data`. */
export function verifySignature(publicKeyB64u: string, data: Buffer, signature: string): boolean {
  try {
    const key = createPublicKey({
      key: { kty: 'OKP', crv: 'Ed25519', x: publicKeyB64u },
      format: 'jwk',
    });
    const sig = Buffer.from(signature, 'base64url');
    if (sig.length !== 64) return false;
    return cryptoVerify(null, data, key, sig);
  } catch {
    return false;
  }
}
