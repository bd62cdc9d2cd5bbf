/**
 * Noise CipherState (Noise spec rev 34 §5.1) with the ChaChaPoly cipher functions (§12.3):
 * ChaCha20-Poly1305 of RFC 8439, 96-bit nonce = 4 zero bytes ‖ 64-bit little-endian counter.
 *
 * Besides the spec's implicit counter this exposes `encryptWithNonce`/`decryptWithNonce`, for
 * transport messages that carry their counter explicitly (datagrams get lost and reordered, so the
 * receiver cannot count: the WireGuard approach, whitepaper §5.4.6).
 */
import { defaultAead, TAG_BYTES, type Aead } from './aead.js';
import { SessionError, SessionErrorCode } from './errors.js';

export { TAG_BYTES } from './aead.js';
export const KEY_BYTES = 32;
/**
 * Largest counter this implementation uses. Noise reserves 2^64−1 (§5.1) and nonces are 64-bit,
 * but a JS number is exact only to 2^53−1; sessions rekey after far fewer messages (REKEY_AFTER_MESSAGES
 * in secure-session.ts), so the cap is never reached in practice — it is refused, not wrapped.
 */
export const MAX_NONCE = Number.MAX_SAFE_INTEGER;

const REKEY_NONCE = Buffer.from('00000000ffffffffffffffff', 'hex');
const ZEROS_32 = Buffer.alloc(32);
const EMPTY = Buffer.alloc(0);

/**
 * The 96-bit nonce, written into one scratch buffer: both backends read it before returning
 * (libsodium synchronously, createCipheriv copies it into its context), so it is free again at
 * once (one allocation less per datagram; JavaScript is single-threaded).
 */
const NONCE = Buffer.alloc(12);
function nonce96(n: number): Buffer {
  NONCE.writeUInt32LE(n >>> 0, 4);
  NONCE.writeUInt32LE(Math.floor(n / 2 ** 32), 8);
  return NONCE;
}

/** prefix ‖ ciphertext ‖ tag in one allocation. */
function aeadEncrypt(
  aead: Aead,
  k: Buffer,
  nonce: Buffer,
  ad: Uint8Array,
  plaintext: Uint8Array,
  prefix?: Uint8Array,
): Buffer {
  const p = prefix ? prefix.length : 0;
  const out = Buffer.allocUnsafe(p + plaintext.length + TAG_BYTES);
  if (prefix) out.set(prefix, 0);
  aead.seal(p === 0 ? out : out.subarray(p), k, nonce, ad, plaintext);
  return out;
}

function aeadDecrypt(
  aead: Aead,
  k: Buffer,
  nonce: Buffer,
  ad: Uint8Array,
  ciphertext: Uint8Array,
): Buffer {
  if (ciphertext.length < TAG_BYTES)
    throw new SessionError(SessionErrorCode.MALFORMED, 'ciphertext shorter than its tag');
  const out = Buffer.allocUnsafe(ciphertext.length - TAG_BYTES);
  if (!aead.open(out, k, nonce, ad, ciphertext))
    throw new SessionError(SessionErrorCode.DECRYPT_FAILED, 'authentication failed');
  return out;
}

export class CipherState {
  #k: Buffer | undefined;
  #n = 0;
  /** The ChaCha20-Poly1305 implementation (aead.ts): libsodium when it loads. */
  readonly aead: Aead;

  constructor(key?: Uint8Array, aead: Aead = defaultAead) {
    this.aead = aead;
    if (key) this.initializeKey(key);
  }

  /** §5.1 InitializeKey: sets k, resets n to 0. */
  initializeKey(key: Uint8Array): void {
    if (key.length !== KEY_BYTES) throw new RangeError('cipher key must be 32 bytes');
    this.#k = Buffer.from(key);
    this.#n = 0;
  }

  hasKey(): boolean {
    return this.#k !== undefined;
  }

  /** The implicit counter: next nonce `encryptWithAd` will use. */
  get nonce(): number {
    return this.#n;
  }

  /** §5.1 EncryptWithAd: with no key, the plaintext passes through (first handshake tokens). */
  encryptWithAd(ad: Uint8Array, plaintext: Uint8Array): Buffer {
    if (!this.#k) return Buffer.from(plaintext);
    const out = this.encryptWithNonce(this.#n, ad, plaintext);
    this.#n++;
    return out;
  }

  /** §5.1 DecryptWithAd: n advances only when authentication succeeds. */
  decryptWithAd(ad: Uint8Array, ciphertext: Uint8Array): Buffer {
    if (!this.#k) return Buffer.from(ciphertext);
    const out = this.decryptWithNonce(this.#n, ad, ciphertext);
    this.#n++;
    return out;
  }

  /**
   * Encrypt with an explicit counter; the caller guarantees it never repeats under this key.
   * `prefix` (e.g. the datagram header) is prepended to the output in the same allocation.
   */
  encryptWithNonce(n: number, ad: Uint8Array, plaintext: Uint8Array, prefix?: Uint8Array): Buffer {
    const k = this.#requireKey();
    checkNonce(n);
    return aeadEncrypt(this.aead, k, nonce96(n), ad, plaintext, prefix);
  }

  /**
   * As `encryptWithNonce`, written into `out` (exactly plaintext + tag bytes; it must not
   * overlap `plaintext` or `ad`): the caller lays out the datagram around it.
   */
  encryptWithNonceInto(n: number, ad: Uint8Array, plaintext: Uint8Array, out: Uint8Array): void {
    const k = this.#requireKey();
    checkNonce(n);
    if (out.length !== plaintext.length + TAG_BYTES)
      throw new RangeError('out must be plaintext + tag bytes long');
    this.aead.seal(out, k, nonce96(n), ad, plaintext);
  }

  /** Decrypt with an explicit counter (the caller's replay window decides if n is acceptable). */
  decryptWithNonce(n: number, ad: Uint8Array, ciphertext: Uint8Array): Buffer {
    const k = this.#requireKey();
    checkNonce(n);
    return aeadDecrypt(this.aead, k, nonce96(n), ad, ciphertext);
  }

  /** §4.2/§11.3 Rekey: k = first 32 bytes of ENCRYPT(k, 2^64−1, ε, zeros). n is unchanged. */
  rekey(): void {
    const k = this.#requireKey();
    const next = aeadEncrypt(this.aead, k, REKEY_NONCE, EMPTY, ZEROS_32).subarray(0, KEY_BYTES);
    k.fill(0);
    this.#k = Buffer.from(next);
  }

  /** A copy of (k, n), so a failed handshake read can be rolled back (see noise.ts). */
  snapshot(): { k: Buffer | undefined; n: number } {
    return { k: this.#k && Buffer.from(this.#k), n: this.#n };
  }

  restore(state: { k: Buffer | undefined; n: number }): void {
    this.#k = state.k && Buffer.from(state.k);
    this.#n = state.n;
  }

  /** Forget the key (best effort: JS cannot promise no copy survives). */
  destroy(): void {
    this.#k?.fill(0);
    this.#k = undefined;
  }

  #requireKey(): Buffer {
    if (!this.#k) throw new TypeError('CipherState has no key');
    return this.#k;
  }
}

function checkNonce(n: number): void {
  if (!Number.isInteger(n) || n < 0 || n > MAX_NONCE)
    throw new RangeError(`nonce out of range: ${n}`);
}
