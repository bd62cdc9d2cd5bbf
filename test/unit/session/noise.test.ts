import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  x25519PrivateKeyObject,
  x25519PublicOf,
  type X25519KeyPair,
} from '../../../src/session/identity-keys.js';
import { CipherState, HandshakeState, type NoisePatternName } from '../../../src/session/noise.js';
import { isNatpushError } from '../../../src/util/errors.js';
import { nodeAead, sodiumAead, type Aead } from '../../../src/session/aead.js';

interface Vector {
  source: string;
  protocol_name: string;
  init_prologue: string;
  init_static?: string;
  init_ephemeral: string;
  init_remote_static?: string;
  resp_prologue: string;
  resp_static?: string;
  /** Absent for one-way patterns: the responder writes nothing. */
  resp_ephemeral?: string;
  handshake_hash?: string;
  messages: { payload: string; ciphertext: string }[];
}

// Published vectors, copied unchanged (source and commit in the file's _source).
const file = JSON.parse(
  readFileSync(new URL('./vectors/noise-25519-chachapoly-sha256.json', import.meta.url), 'utf8'),
) as { vectors: Vector[] };

const hexb = (h: string) => Buffer.from(h, 'hex');
const kp = (h: string): X25519KeyPair => {
  const privateKey = x25519PrivateKeyObject(hexb(h));
  return { privateKey, publicKey: x25519PublicOf(privateKey) };
};

// sodium-native is a dependency with a linux-x64 prebuild: it must load here, so both backends
// are checked against the vectors (aead.ts falls back to node:crypto only where it cannot).
const backends: Aead[] = [nodeAead, sodiumAead ?? nodeAead];
it('the sodium-native backend loads on this platform', () => {
  expect(sodiumAead?.name).toBe('sodium-native');
});

describe.each(
  backends.flatMap((aead) =>
    file.vectors.map((v) => [`${aead.name} ${v.source} ${v.protocol_name}`, v, aead] as const),
  ),
)('Noise vector %s', (_name, v, aead) => {
  it('reproduces every handshake and transport message byte for byte', () => {
    const pattern = /^Noise_(\w+?)_25519/.exec(v.protocol_name)![1] as NoisePatternName;
    const init = new HandshakeState({
      aead,
      pattern,
      initiator: true,
      prologue: hexb(v.init_prologue),
      s: v.init_static ? kp(v.init_static) : undefined,
      e: kp(v.init_ephemeral),
      rs: v.init_remote_static ? hexb(v.init_remote_static) : undefined,
    });
    const resp = new HandshakeState({
      aead,
      pattern,
      initiator: false,
      prologue: hexb(v.resp_prologue),
      s: v.resp_static ? kp(v.resp_static) : undefined,
      e: v.resp_ephemeral ? kp(v.resp_ephemeral) : undefined,
    });
    let i = 0;
    for (; !init.complete; i++) {
      const [w, r] = i % 2 === 0 ? [init, resp] : [resp, init];
      const m = v.messages[i]!;
      const ct = w.writeMessage(hexb(m.payload));
      expect(ct.toString('hex'), `message ${i}`).toBe(m.ciphertext);
      expect(r.readMessage(ct).toString('hex')).toBe(m.payload);
    }
    expect(resp.complete).toBe(true);
    if (v.handshake_hash) {
      expect(init.result!.handshakeHash.toString('hex')).toBe(v.handshake_hash);
      expect(resp.result!.handshakeHash.toString('hex')).toBe(v.handshake_hash);
    }
    expect(init.result!.send.aead).toBe(aead);
    const oneWay = pattern === 'X';
    for (; i < v.messages.length; i++) {
      const fromInit = oneWay || i % 2 === 0;
      const [tx, rx] = fromInit
        ? [init.result!.send, resp.result!.receive]
        : [resp.result!.send, init.result!.receive];
      const m = v.messages[i]!;
      const ct = tx.encryptWithAd(new Uint8Array(0), hexb(m.payload));
      expect(ct.toString('hex'), `message ${i}`).toBe(m.ciphertext);
      expect(rx.decryptWithAd(new Uint8Array(0), ct).toString('hex')).toBe(m.payload);
    }
  });
});

describe('Noise failure handling', () => {
  const s1 = kp('e61ef9919cde45dd5f82166404bd08e38bceb5dfdfded0a34c8df7ed542214d1');
  const s2 = kp('4a3acbfdb163dec651dfa3194dece676d437029c62a408b4c5ea9114246e4893');

  it('a flipped bit anywhere in an IK first message is rejected with a typed error', () => {
    const msg = new HandshakeState({
      pattern: 'IK',
      initiator: true,
      s: s1,
      rs: s2.publicKey,
    }).writeMessage(Buffer.from('hello'));
    for (let bit = 0; bit < msg.length * 8; bit += 7) {
      const bad = Buffer.from(msg);
      bad[bit >> 3]! ^= 1 << (bit & 7);
      const resp = new HandshakeState({ pattern: 'IK', initiator: false, s: s2 });
      let err: unknown;
      try {
        resp.readMessage(bad);
      } catch (e) {
        err = e;
      }
      expect(
        isNatpushError(err, 'NATPUSH_ERR_SESSION_DECRYPT_FAILED') ||
          isNatpushError(err, 'NATPUSH_ERR_SESSION_BAD_KEY'),
        `bit ${bit}`,
      ).toBe(true);
      // A failed read rolls back: the genuine message still reads.
      expect(resp.readMessage(msg).toString()).toBe('hello');
    }
  });

  it('a message for another responder static key fails, a truncated one is malformed', () => {
    const msg = new HandshakeState({
      pattern: 'X',
      initiator: true,
      s: s1,
      rs: s2.publicKey,
    }).writeMessage(Buffer.from('x'));
    const other = new HandshakeState({ pattern: 'X', initiator: false, s: s1 });
    expect(() => other.readMessage(msg)).toThrow(/authentication failed/);
    const short = new HandshakeState({ pattern: 'X', initiator: false, s: s2 });
    expect(() => short.readMessage(msg.subarray(0, 40))).toThrow(/too short/);
  });

  it.each(backends.map((aead) => [aead.name, aead] as const))(
    'CipherState rekey (%s) changes the key deterministically and keeps n',
    (_n, aead) => {
      const k = Buffer.alloc(32, 7);
      const a = new CipherState(k, aead);
      // The other backend on the other side: the same bytes on the wire either way.
      const b = new CipherState(k, aead === nodeAead ? backends[1] : nodeAead);
      a.encryptWithAd(Buffer.alloc(0), Buffer.from('x'));
      a.rekey();
      b.rekey();
      expect(a.nonce).toBe(1);
      const ct = a.encryptWithNonce(5, Buffer.alloc(0), Buffer.from('after rekey'));
      expect(b.decryptWithNonce(5, Buffer.alloc(0), ct).toString()).toBe('after rekey');
      expect(() => new CipherState(k, aead).decryptWithNonce(5, Buffer.alloc(0), ct)).toThrow(
        /authentication failed/,
      );
    },
  );
});
