import { describe, expect, it } from 'vitest';
import { generateIdentity } from '../../../src/signaling/identity.js';
import {
  x25519KeyPairFromIdentity,
  x25519PublicFromEd25519B64u,
} from '../../../src/session/identity-keys.js';
import { HandshakeState } from '../../../src/session/noise.js';
import { MAX_SEALED_PLAINTEXT, open, seal, SEALED_OVERHEAD } from '../../../src/session/sealed.js';
import { isNatpushError } from '../../../src/util/errors.js';

const alice = generateIdentity();
const bob = generateIdentity();
const mallory = generateIdentity();

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return isNatpushError(e) ? e.code : `untyped: ${String(e)}`;
  }
  return undefined;
}

describe('sealed (Noise_X)', () => {
  it('round-trips and names the sender by its peer id', () => {
    const text = new TextEncoder().encode('{"id":"n1","topic":"t","body":"hello"}');
    const box = seal(alice, bob.publicKey, text);
    expect(box[0]).toBe(0xc4);
    expect(box[1]).toBe(1);
    expect(box.length).toBe(text.length + SEALED_OVERHEAD);
    // The plaintext does not appear in the sealed bytes.
    expect(Buffer.from(box).includes(Buffer.from('hello'))).toBe(false);
    const opened = open(bob, box);
    expect(opened.senderPeerId).toBe(alice.peerId);
    expect(opened.senderPublicKey).toBe(alice.publicKey);
    expect(new TextDecoder().decode(opened.plaintext)).toBe(new TextDecoder().decode(text));
    // Fresh ephemeral each time: the same plaintext seals differently.
    expect(Buffer.from(seal(alice, bob.publicKey, text)).equals(Buffer.from(box))).toBe(false);
  });

  it('handles empty and 16 KiB plaintexts, refuses larger ones', () => {
    expect(open(bob, seal(alice, bob.publicKey, new Uint8Array(0))).plaintext.length).toBe(0);
    const big = new Uint8Array(MAX_SEALED_PLAINTEXT).map((_, i) => i * 7);
    const box = seal(alice, bob.publicKey, big);
    expect(Buffer.from(box).toString('base64url').length).toBeLessThanOrEqual(24 * 1024);
    expect(Buffer.from(open(bob, box).plaintext).equals(Buffer.from(big))).toBe(true);
    expect(() => seal(alice, bob.publicKey, new Uint8Array(MAX_SEALED_PLAINTEXT + 1))).toThrow(
      RangeError,
    );
  });

  it('only the recipient can open it', () => {
    const box = seal(alice, bob.publicKey, Uint8Array.of(1, 2, 3));
    expect(codeOf(() => open(mallory, box))).toBe('NATPUSH_ERR_SESSION_DECRYPT_FAILED');
    expect(codeOf(() => open(alice, box))).toBe('NATPUSH_ERR_SESSION_DECRYPT_FAILED');
  });

  it('any flipped bit is rejected with a typed error', () => {
    const box = seal(alice, bob.publicKey, new TextEncoder().encode('tamper me'));
    const codes = new Set<string | undefined>();
    // Every 5th bit: each byte is hit at least once.
    for (let bit = 0; bit < box.length * 8; bit += 5) {
      const bad = Uint8Array.from(box);
      bad[bit >> 3]! ^= 1 << (bit & 7);
      const code = codeOf(() => open(bob, bad));
      expect(code, `bit ${bit}`).toMatch(/^NATPUSH_ERR_SESSION_/);
      codes.add(code);
    }
    expect(codes).toContain('NATPUSH_ERR_SESSION_DECRYPT_FAILED');
    expect(codes).toContain('NATPUSH_ERR_SESSION_UNSUPPORTED_VERSION');
    expect(codes).toContain('NATPUSH_ERR_SESSION_MALFORMED');
  });

  it('truncation and other message kinds are malformed', () => {
    const box = seal(alice, bob.publicKey, Uint8Array.of(9));
    expect(codeOf(() => open(bob, box.subarray(0, 60)))).toBe('NATPUSH_ERR_SESSION_MALFORMED');
    expect(codeOf(() => open(bob, box.subarray(0, box.length - 1)))).toBe(
      'NATPUSH_ERR_SESSION_DECRYPT_FAILED',
    );
    const asTransport = Uint8Array.from(box);
    asTransport[0] = 0xc3;
    expect(codeOf(() => open(bob, asTransport))).toBe('NATPUSH_ERR_SESSION_MALFORMED');
    expect(codeOf(() => open(bob, Uint8Array.of(0x00, 0x01, 0x02)))).toBe(
      'NATPUSH_ERR_SESSION_MALFORMED',
    );
  });

  it("a sender claiming someone else's Ed25519 key is refused", () => {
    // Mallory seals with her own static key but writes Alice's Ed25519 key into the payload.
    const hs = new HandshakeState({
      pattern: 'X',
      initiator: true,
      prologue: Buffer.from('natpush sealed\n\xc4\x01', 'latin1'),
      s: x25519KeyPairFromIdentity(mallory),
      rs: x25519PublicFromEd25519B64u(bob.publicKey),
    });
    const forged = Buffer.concat([
      Buffer.from([0xc4, 1]),
      hs.writeMessage(Buffer.concat([Buffer.from(alice.publicKey, 'base64url'), Buffer.from('x')])),
    ]);
    expect(codeOf(() => open(bob, forged))).toBe('NATPUSH_ERR_SESSION_IDENTITY_MISMATCH');
  });

  it('a recipient key that is not a valid point is refused at seal time', () => {
    const zero = Buffer.alloc(32).toString('base64url');
    expect(codeOf(() => seal(alice, zero, Uint8Array.of(1)))).toBe('NATPUSH_ERR_SESSION_BAD_KEY');
  });
});
