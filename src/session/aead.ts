/**
 * ChaCha20-Poly1305 (RFC 8439, the AEAD of Noise's ChaChaPoly, §12.3) from one of two backends:
 *
 * - `sodium-native` (libsodium through a prebuilt N-API addon): seals and opens straight into a
 *   caller's buffer, no object or allocation per call. Measured here (bench/session-crypto.ts,
 *   1,170-byte payload, Node 20): 3.7 µs per seal against 14.2 µs for node:crypto, whose
 *   createCipheriv builds an OpenSSL context per datagram (a profile of a flood put 40 % of the
 *   seal in createCipherBase alone).
 * - `node:crypto`: the fallback when the addon cannot load (no prebuild for the platform, a
 *   bundler that drops .node files). Same bytes on the wire: both pass the Noise test vectors
 *   (test/unit/session/aead.test.ts, noise.test.ts).
 *
 * `defaultAead` is sodium when it loads, else node:crypto; a CipherState takes either.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { createRequire } from 'node:module';

export const TAG_BYTES = 16;

export interface Aead {
  readonly name: 'sodium-native' | 'node:crypto';
  /**
   * Writes ciphertext ‖ tag (`plaintext.length + TAG_BYTES` bytes) into `out`. `out` may be the
   * plaintext's own bytes (in place) with sodium; node:crypto copies.
   */
  seal(
    out: Uint8Array,
    key: Uint8Array,
    nonce: Uint8Array,
    ad: Uint8Array,
    plaintext: Uint8Array,
  ): void;
  /**
   * Writes the plaintext (`ciphertext.length − TAG_BYTES` bytes, ciphertext includes its tag)
   * into `out`; false, with `out` zeroed, when authentication fails.
   */
  open(
    out: Uint8Array,
    key: Uint8Array,
    nonce: Uint8Array,
    ad: Uint8Array,
    ciphertext: Uint8Array,
  ): boolean;
}

export const nodeAead: Aead = {
  name: 'node:crypto',
  seal(out, key, nonce, ad, plaintext) {
    const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG_BYTES });
    c.setAAD(ad, { plaintextLength: plaintext.length });
    const body = c.update(plaintext);
    c.final();
    out.set(body, 0);
    out.set(c.getAuthTag(), body.length);
  },
  open(out, key, nonce, ad, ciphertext) {
    const n = ciphertext.length - TAG_BYTES;
    const d = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG_BYTES });
    d.setAAD(ad, { plaintextLength: n });
    d.setAuthTag(ciphertext.subarray(n));
    out.set(d.update(ciphertext.subarray(0, n)), 0);
    try {
      d.final();
      return true;
    } catch {
      out.fill(0, 0, n);
      return false;
    }
  },
};

/** The subset of sodium-native used here (the package ships no types). */
interface SodiumAeadBinding {
  crypto_aead_chacha20poly1305_ietf_encrypt(
    c: Uint8Array,
    m: Uint8Array,
    ad: Uint8Array | null,
    nsec: null,
    npub: Uint8Array,
    k: Uint8Array,
  ): number;
  crypto_aead_chacha20poly1305_ietf_decrypt(
    m: Uint8Array,
    nsec: null,
    c: Uint8Array,
    ad: Uint8Array | null,
    npub: Uint8Array,
    k: Uint8Array,
  ): number;
}

function loadSodium(): SodiumAeadBinding | undefined {
  try {
    const s = createRequire(import.meta.url)('sodium-native') as Partial<SodiumAeadBinding>;
    return typeof s.crypto_aead_chacha20poly1305_ietf_encrypt === 'function' &&
      typeof s.crypto_aead_chacha20poly1305_ietf_decrypt === 'function'
      ? (s as SodiumAeadBinding)
      : undefined;
  } catch {
    return undefined; // not installed, or no prebuild for this platform/ABI
  }
}

function sodiumAeadFrom(s: SodiumAeadBinding): Aead {
  return {
    name: 'sodium-native',
    seal(out, key, nonce, ad, plaintext) {
      // libsodium needs `out` exactly plaintext + tag long (its wrapper asserts it).
      const c =
        out.length === plaintext.length + TAG_BYTES
          ? out
          : out.subarray(0, plaintext.length + TAG_BYTES);
      s.crypto_aead_chacha20poly1305_ietf_encrypt(c, plaintext, ad, null, nonce, key);
    },
    open(out, key, nonce, ad, ciphertext) {
      const n = ciphertext.length - TAG_BYTES;
      const m = out.length === n ? out : out.subarray(0, n);
      try {
        s.crypto_aead_chacha20poly1305_ietf_decrypt(m, null, ciphertext, ad, nonce, key);
        return true;
      } catch {
        m.fill(0); // sodium-native throws 'could not verify data' on a bad tag
        return false;
      }
    },
  };
}

const sodium = loadSodium();
/** libsodium's ChaCha20-Poly1305, or undefined when the addon does not load here. */
export const sodiumAead: Aead | undefined = sodium ? sodiumAeadFrom(sodium) : undefined;
/** What sessions use: sodium when it loads (≈ 4× faster per datagram), else node:crypto. */
export const defaultAead: Aead = sodiumAead ?? nodeAead;
