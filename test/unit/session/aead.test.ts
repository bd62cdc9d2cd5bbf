import { describe, expect, it } from 'vitest';
import { nodeAead, sodiumAead, TAG_BYTES, type Aead } from '../../../src/session/aead.js';
import { CipherState } from '../../../src/session/cipher-state.js';
import { isNatpushError } from '../../../src/util/errors.js';

const hex = (h: string) => Buffer.from(h.replace(/\s+/g, ''), 'hex');

// RFC 8439 §2.8.2: the AEAD_CHACHA20_POLY1305 test vector.
const KEY = hex('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f');
const NONCE = hex('070000004041424344454647');
const AD = hex('50515253c0c1c2c3c4c5c6c7');
const PLAINTEXT = Buffer.from(
  "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
);
const CIPHERTEXT = hex(`
  d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6
  3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36
  92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc
  3ff4def08e4b7a9de576d26586cec64b6116`);
const TAG = hex('1ae10b594f09e26a7e902ecbd0600691');

const backends: Aead[] = [nodeAead, sodiumAead ?? nodeAead];

describe.each(backends.map((a) => [a.name, a] as const))('AEAD backend %s', (_name, aead) => {
  it('seals and opens the RFC 8439 §2.8.2 vector', () => {
    const out = Buffer.alloc(PLAINTEXT.length + TAG_BYTES);
    aead.seal(out, KEY, NONCE, AD, PLAINTEXT);
    expect(out.toString('hex')).toBe(Buffer.concat([CIPHERTEXT, TAG]).toString('hex'));
    const back = Buffer.alloc(PLAINTEXT.length);
    expect(aead.open(back, KEY, NONCE, AD, out)).toBe(true);
    expect(back.equals(PLAINTEXT)).toBe(true);
  });

  it('refuses a flipped bit in the ciphertext, the tag or the associated data', () => {
    const sealed = Buffer.concat([CIPHERTEXT, TAG]);
    for (const [i, inAd] of [
      [0, false],
      [CIPHERTEXT.length + 3, false],
      [2, true],
    ] as const) {
      const c = Buffer.from(sealed);
      const ad = Buffer.from(AD);
      if (inAd) ad[i]! ^= 1;
      else c[i]! ^= 1;
      const out = Buffer.alloc(PLAINTEXT.length, 0xaa);
      expect(aead.open(out, KEY, NONCE, ad, c)).toBe(false);
      expect(out.every((b) => b === 0)).toBe(true); // nothing unauthenticated is left behind
    }
  });

  it('a CipherState on it reads what the other backend wrote, and rejects forgeries typed', () => {
    const other = aead === nodeAead ? backends[1]! : nodeAead;
    const k = Buffer.alloc(32, 9);
    const tx = new CipherState(k, aead);
    const rx = new CipherState(k, other);
    const header = Buffer.from([1, 2, 3, 4]);
    const d = tx.encryptWithNonce(77, header, Buffer.from('hello'), header);
    expect(d.subarray(0, 4).equals(header)).toBe(true);
    expect(rx.decryptWithNonce(77, header, d.subarray(4)).toString()).toBe('hello');
    let err: unknown;
    try {
      rx.decryptWithNonce(78, header, d.subarray(4));
    } catch (e) {
      err = e;
    }
    expect(isNatpushError(err, 'NATPUSH_ERR_SESSION_DECRYPT_FAILED')).toBe(true);
  });
});
