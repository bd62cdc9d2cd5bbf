import { describe, expect, it } from 'vitest';
import { LIMITS } from '../../../src/signaling/constants.js';
import { SignalingError } from '../../../src/signaling/errors.js';
import {
  clientMessage,
  decodeFrame,
  encodeFrame,
  serverMessage,
} from '../../../src/signaling/protocol.js';

const P = 'a'.repeat(32);

const validClient = [
  { type: 'hello', v: 1, peer: P, publicKey: 'AAAA' },
  { type: 'auth', nonce: 'abc', signature: 'def' },
  { type: 'watch', peers: [P] },
  {
    type: 'candidates',
    to: P,
    rid: 'r',
    candidates: [{ type: 'srflx', protocol: 'udp', address: '203.0.113.1', port: 4000 }],
  },
  { type: 'punch', to: P, rid: 'r' },
  { type: 'punch-end', to: P, rid: 'r', ufrag: 'abcd', reason: 'aborted' },
  { type: 'notify', ref: 'r', id: 'i', to: P, body: 'x', topic: 't', ttl: 60 },
  { type: 'ack', ids: ['i'] },
  { type: 'ping', t: 1 },
  { type: 'allow', peers: [P], anyone: false },
  { type: 'p2p', to: P, data: Buffer.alloc(LIMITS.maxP2pDataBytes).toString('base64url') },
  { type: 'key-request', ref: 'k.1:x-y_z', peer: P },
  {
    type: 'candidates',
    to: P,
    rid: 'r',
    candidates: [],
    ufrag: 'abcd',
    pwd: 'a'.repeat(22),
  },
];

describe('protocol', () => {
  it.each(validClient)('round-trips client frame %j', (m) => {
    expect(decodeFrame(clientMessage, JSON.stringify(m))).toEqual(m);
  });

  it.each([
    ['not JSON', '{', 'NATPUSH_ERR_BAD_FRAME'],
    ['unknown type', '{"type":"nope"}', 'NATPUSH_ERR_BAD_FRAME'],
    ['extra field', JSON.stringify({ type: 'ping', t: 1, x: 1 }), 'NATPUSH_ERR_BAD_FRAME'],
    ['bad peer id', JSON.stringify({ type: 'punch', to: 'B', rid: 'r' }), 'NATPUSH_ERR_BAD_FRAME'],
    [
      'body too large',
      JSON.stringify({
        type: 'notify',
        ref: 'r',
        id: 'i',
        to: P,
        body: 'x'.repeat(LIMITS.maxSealedBodyBytes + 1),
      }),
      'NATPUSH_ERR_BAD_FRAME',
    ],
    [
      'ttl too long',
      JSON.stringify({
        type: 'notify',
        ref: 'r',
        id: 'i',
        to: P,
        body: 'x',
        ttl: LIMITS.maxTtlSeconds + 1,
      }),
      'NATPUSH_ERR_BAD_FRAME',
    ],
    [
      'too many acks',
      JSON.stringify({ type: 'ack', ids: Array(LIMITS.maxAckIds + 1).fill('i') }),
      'NATPUSH_ERR_BAD_FRAME',
    ],
    [
      'p2p data over maxP2pDataBytes',
      JSON.stringify({
        type: 'p2p',
        to: P,
        data: Buffer.alloc(LIMITS.maxP2pDataBytes + 1).toString('base64url'),
      }),
      'NATPUSH_ERR_BAD_FRAME',
    ],
    [
      'p2p data not base64url',
      JSON.stringify({ type: 'p2p', to: P, data: 'a+b=' }),
      'NATPUSH_ERR_BAD_FRAME',
    ],
    [
      'allow list too long',
      JSON.stringify({
        type: 'allow',
        peers: Array(LIMITS.maxAllowedPeers + 1).fill(P),
        anyone: false,
      }),
      'NATPUSH_ERR_BAD_FRAME',
    ],
    [
      'id with a line break',
      JSON.stringify({ type: 'ack', ids: ['a\nb'] }),
      'NATPUSH_ERR_BAD_FRAME',
    ],
    [
      'topic with a bidi override',
      JSON.stringify({ type: 'notify', ref: 'r', id: 'i', to: P, body: 'x', topic: '\u202e' }),
      'NATPUSH_ERR_BAD_FRAME',
    ],
    [
      'short ice pwd',
      JSON.stringify({ type: 'candidates', to: P, rid: 'r', candidates: [], pwd: 'short' }),
      'NATPUSH_ERR_BAD_FRAME',
    ],
    ['oversized frame', ' '.repeat(LIMITS.maxFrameBytes + 1), 'NATPUSH_ERR_FRAME_TOO_LARGE'],
    ['JSON array', '[]', 'NATPUSH_ERR_BAD_FRAME'],
  ])('rejects %s with %s', (_name, text, code) => {
    expect(() => decodeFrame(clientMessage, text)).toThrow(expect.objectContaining({ code }));
  });

  it('takes a sealed-size body from a peer, but not one that outgrows a frame once escaped', () => {
    const ok = 'x'.repeat(LIMITS.maxSealedBodyBytes);
    const frame = (body: string) =>
      JSON.stringify({ type: 'notify', ref: 'r', id: 'i', to: P, body });
    expect(decodeFrame(clientMessage, frame(ok))).toMatchObject({ body: ok });
    expect(() => decodeFrame(clientMessage, frame(ok + 'x'))).toThrow(SignalingError);
    // 11,000 × U+0001 is 66,000 bytes of JSON: no deliver frame could carry it.
    expect(() => decodeFrame(clientMessage, frame('\u0001'.repeat(11_000)), 1 << 20)).toThrow(
      SignalingError,
    );
  });

  it('counts body size in UTF-8 bytes, not characters', () => {
    const body = 'é'.repeat(LIMITS.maxSealedBodyBytes / 2 + 1);
    expect(() =>
      decodeFrame(
        clientMessage,
        JSON.stringify({ type: 'notify', ref: 'r', id: 'i', to: P, body }),
      ),
    ).toThrow(SignalingError);
  });

  it('encodes server frames that the client schema decodes', () => {
    const m = { type: 'delivered' as const, id: 'i', to: P, via: 'websocket' as const };
    expect(decodeFrame(serverMessage, encodeFrame(m))).toEqual(m);
  });

  it('never throws anything but SignalingError on mutated frames (fuzz)', () => {
    let seed = 42;
    const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    const corpus = validClient.map((m) => JSON.stringify(m));
    for (let i = 0; i < 5000; i++) {
      const base = corpus[i % corpus.length] ?? '';
      const chars = [...base];
      const edits = 1 + Math.floor(rnd() * 4);
      for (let e = 0; e < edits; e++) {
        const at = Math.floor(rnd() * chars.length);
        const r = rnd();
        if (r < 0.33) chars.splice(at, 1);
        else if (r < 0.66) chars.splice(at, 0, String.fromCharCode(Math.floor(rnd() * 128)));
        else chars[at] = '"{}[]:,0-9ae\\'[Math.floor(rnd() * 13)] ?? 'x';
      }
      try {
        decodeFrame(clientMessage, chars.join(''));
      } catch (err) {
        expect(err).toBeInstanceOf(SignalingError);
      }
    }
  }, 60_000); // CPU-bound (0.3–1.3 s in CI); 10.8 s when starved on the loaded machine
});
