import { describe, expect, it } from 'vitest';
import { generateIdentity } from '../../../src/signaling/identity.js';
import { decodeFrame, FrameError } from '../../../src/session/reliable-frames.js';
import { ID_PATTERN, isValidId } from '../../../src/session/notification-codec.js';
import { SecureSession } from '../../../src/session/secure-session.js';
import {
  encodeTransportHeader,
  isSessionDatagram,
  MessageKind,
  parseMessage,
  peekReceiverIndex,
  sealTransport,
} from '../../../src/session/wire.js';
import { nodeAead, sodiumAead, type Aead } from '../../../src/session/aead.js';
import { CipherState } from '../../../src/session/cipher-state.js';
import { ManualClock } from '../../../src/util/clock.js';
import { isNatpushError } from '../../../src/util/errors.js';
import { prng } from './lossy-pipe.js';

describe('session wire format', () => {
  it('claims exactly 0xC0–0xCF, clear of STUN, DTLS, ChannelData, QUIC and RTP (RFC 7983/9443)', () => {
    for (let b = 0; b < 256; b++) {
      const expected = b >= 0xc0 && b <= 0xcf;
      expect(isSessionDatagram(Uint8Array.of(b, 1)), `0x${b.toString(16)}`).toBe(expected);
    }
    expect(isSessionDatagram(Uint8Array.of(0xc3))).toBe(false); // too short for a version byte
  });

  it('transport header round-trips counters up to 2^53 − 1 and refuses larger', () => {
    for (const n of [0, 1, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 5, Number.MAX_SAFE_INTEGER]) {
      const d = Buffer.concat([encodeTransportHeader(0xdeadbeef, n), Buffer.alloc(16)]);
      const m = parseMessage(d);
      expect(m.kind).toBe(MessageKind.TRANSPORT);
      if (m.kind === MessageKind.TRANSPORT) {
        expect(m.counter).toBe(n);
        expect(m.receiverIndex).toBe(0xdeadbeef);
      }
      expect(peekReceiverIndex(d)).toBe(0xdeadbeef);
    }
    const big = Buffer.concat([encodeTransportHeader(1, 0), Buffer.alloc(16)]);
    big.writeUInt32LE(0x200000, 10);
    expect(() => parseMessage(big)).toThrow(/counter out of range/);
  });

  it('isValidId agrees with ID_PATTERN: every UTF-16 code unit, lengths 0/1/64/65, random ids', () => {
    const disagree: number[] = [];
    for (let c = 0; c <= 0xffff; c++) {
      const ch = String.fromCharCode(c);
      if (isValidId(ch) !== ID_PATTERN.test(ch)) disagree.push(c);
      if (isValidId(`ab${ch}9`) !== ID_PATTERN.test(`ab${ch}9`)) disagree.push(c);
    }
    expect(disagree).toEqual([]);
    for (const id of ['', 'a', 'a'.repeat(64), 'a'.repeat(65), 'x:y.z_w-1', 'a b', 'é', '\n'])
      expect(isValidId(id), JSON.stringify(id)).toBe(ID_PATTERN.test(id));
    const rnd = prng(9);
    const alphabet = 'aZ09_.:-/ @\u00e9\u200e';
    for (let i = 0; i < 2000; i++) {
      const len = Math.floor(rnd() * 70);
      let id = '';
      for (let j = 0; j < len; j++) id += alphabet[Math.floor(rnd() * alphabet.length)];
      expect(isValidId(id), JSON.stringify(id)).toBe(ID_PATTERN.test(id));
    }
  });

  it('sealTransport lays out header ‖ ciphertext ‖ tag in one buffer, as header + encryptWithNonce, on each backend', () => {
    const backends = [nodeAead, sodiumAead].filter((x): x is Aead => x !== undefined);
    const key = Buffer.alloc(32, 7);
    for (const aead of backends) {
      const tx = new CipherState(key, aead);
      const rx = new CipherState(key, aead);
      for (const [counter, size] of [
        [0, 1],
        [2 ** 32 + 3, 100],
        [123_456, 1170],
      ] as const) {
        const payload = Buffer.alloc(size, counter & 0xff);
        const header = encodeTransportHeader(0xabcdef01, counter);
        const expected = Buffer.concat([header, tx.encryptWithNonce(counter, header, payload)]);
        const d = sealTransport(tx, 0xabcdef01, counter, payload);
        expect(Buffer.compare(d, expected), aead.name).toBe(0);
        const m = parseMessage(d);
        if (m.kind !== MessageKind.TRANSPORT) throw new Error('not a transport message');
        expect(m.counter).toBe(counter);
        expect(Buffer.compare(rx.decryptWithNonce(counter, m.header, m.ciphertext), payload)).toBe(
          0,
        );
      }
    }
  });

  it('random and mutated input: SecureSession.handle never throws, decoders throw only typed errors', () => {
    const clock = new ManualClock();
    const a = generateIdentity();
    const b = generateIdentity();
    const s = new SecureSession({
      identity: a,
      remotePeerId: b.peerId,
      remotePublicKey: b.publicKey,
      clock,
      send: () => {},
    });
    const rand = prng(2026);
    const seeds = [142, 58, 30, 200, 2, 14].map((len, k) =>
      Uint8Array.from({ length: len }, (_, i) => (i === 0 ? 0xc1 + (k % 4) : i === 1 ? 1 : 0)),
    );
    for (let i = 0; i < 5_000; i++) {
      const base = seeds[i % seeds.length]!;
      const input =
        i % 3 === 0
          ? Uint8Array.from({ length: Math.floor(rand() * 300) }, () => Math.floor(rand() * 256))
          : Uint8Array.from(base, (x) => (rand() < 0.05 ? Math.floor(rand() * 256) : x));
      expect(() => s.handle(input)).not.toThrow();
      try {
        parseMessage(input);
      } catch (e) {
        expect(isNatpushError(e)).toBe(true);
      }
      try {
        decodeFrame(input.subarray(2));
      } catch (e) {
        expect(e).toBeInstanceOf(FrameError);
      }
      clock.advance(1);
    }
    expect(
      s.stats.datagramsReceived + Object.values(s.stats.dropped).reduce((x, y) => x + y, 0),
    ).toBeGreaterThan(0);
    s.close();
  });
});
