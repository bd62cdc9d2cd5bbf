/**
 * Stateless nonces for the long-term credential mechanism (RFC 8489 §9.2.2). The server keeps no
 * per-client state before a request authenticates: a nonce carries its own expiry and an HMAC over
 * that expiry and the client's address, so it can be checked later and cannot be moved to another
 * client or have its expiry extended.
 *
 *   nonce = hex(expiry unix s, 8 digits) + base64url(HMAC-SHA256(key, expiry "|" client)[0..8])
 *
 * A nonce that verifies but has expired → 438 Stale Nonce, and the client retries with the fresh
 * nonce in that response (§9.2.4). 20 characters, well under the 128-character limit (§14.10),
 * and short on purpose: it is in every 401, the reply an unauthenticated (possibly spoofed)
 * request draws, so its size is reflection (issue 8, finding 10). 72 bits of MAC are plenty for
 * a value that only saves a round trip: the request's MESSAGE-INTEGRITY is what authenticates.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { bytesEqual } from './credentials.js';

/** Unix seconds in hex: 8 digits last until 2106. */
const EXPIRY_DIGITS = 8;
const MAC_BYTES = 9;
const MAC_CHARS = 12; // base64url of 9 bytes, no padding

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
    const expiry = Math.ceil((nowMs + this.#ttlMs) / 1000)
      .toString(16)
      .padStart(EXPIRY_DIGITS, '0');
    return expiry + this.#mac(expiry, client);
  }

  check(nonce: string, client: string, nowMs: number): NonceCheck {
    if (nonce.length !== EXPIRY_DIGITS + MAC_CHARS) return 'invalid';
    const expiryHex = nonce.slice(0, EXPIRY_DIGITS);
    if (!/^[0-9a-f]{8}$/.test(expiryHex)) return 'invalid';
    const want = Buffer.from(this.#mac(expiryHex, client));
    if (!bytesEqual(want, Buffer.from(nonce.slice(EXPIRY_DIGITS)))) return 'invalid';
    return parseInt(expiryHex, 16) * 1000 < nowMs ? 'stale' : 'valid';
  }

  #mac(expiryHex: string, client: string): string {
    return createHmac('sha256', this.#key)
      .update(`${expiryHex}|${client}`)
      .digest()
      .subarray(0, MAC_BYTES)
      .toString('base64url');
  }
}
