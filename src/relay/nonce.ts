/**
 * Stateless nonces for the long-term credential mechanism (RFC 8489 §9.2.2). The server keeps no
 * per-client state before a request authenticates: a nonce carries its own expiry and an HMAC over
 * that expiry and the client's address, so it can be checked later and cannot be moved to another
 * client or have its expiry extended.
 *
 *   nonce = hex(expiry unix ms, 12 digits) + base64url(HMAC-SHA256(key, expiry "|" client)[0..15])
 *
 * A nonce that verifies but has expired → 438 Stale Nonce, and the client retries with the fresh
 * nonce in that response (§9.2.4). 36 characters, well under the 128-character limit (§14.10).
 */
import { createHmac, randomBytes } from 'node:crypto';
import { bytesEqual } from './credentials.js';

export type NonceCheck = 'valid' | 'stale' | 'invalid';

export class NonceMinter {
  readonly #key: Buffer;
  readonly #ttlMs: number;

  /** `key` defaults to 32 random bytes: nonces then do not survive a restart, which is fine (438). */
  constructor(ttlSeconds: number, key: Uint8Array = randomBytes(32)) {
    if (!(ttlSeconds > 0)) throw new RangeError('nonce ttl must be > 0');
    this.#key = Buffer.from(key);
    this.#ttlMs = ttlSeconds * 1000;
  }

  mint(client: string, nowMs: number): string {
    const expiry = (nowMs + this.#ttlMs).toString(16).padStart(12, '0');
    return expiry + this.#mac(expiry, client);
  }

  check(nonce: string, client: string, nowMs: number): NonceCheck {
    if (nonce.length !== 12 + 22) return 'invalid';
    const expiryHex = nonce.slice(0, 12);
    if (!/^[0-9a-f]{12}$/.test(expiryHex)) return 'invalid';
    const want = Buffer.from(this.#mac(expiryHex, client));
    if (!bytesEqual(want, Buffer.from(nonce.slice(12)))) return 'invalid';
    return parseInt(expiryHex, 16) < nowMs ? 'stale' : 'valid';
  }

  #mac(expiryHex: string, client: string): string {
    return createHmac('sha256', this.#key)
      .update(`${expiryHex}|${client}`)
      .digest()
      .subarray(0, 16)
      .toString('base64url');
  }
}
