/**
 * Forward compatibility of the signaling protocol (protocol.ts header: Compatibility): a client
 * takes frames from a newer serve — extra fields are stripped, unknown frame types are reported
 * as unknown, not as errors — while serve stays strict about every frame a client sends.
 */
import { describe, expect, it } from 'vitest';
import { decodeClientFrame } from '../../../src/signaling/client-frame.js';
import { decodeServerFrame } from '../../../src/signaling/protocol.js';
import { A, B, code, WELCOME } from './frames.js';

const cand = { type: 'srflx', protocol: 'udp', address: '203.0.113.1', port: 4000 } as const;
const turn = {
  username: `1700003600:${A}`,
  password: 'c2VjcmV0c2VjcmV0c2VjcmV0MTI=',
  ttl: 600,
  expires: 1700003600,
  urls: ['turn:198.51.100.1:3478?transport=udp'],
};

/** A frame as an older client knows it, and the same frame as a newer serve might send it. */
const cases: [string, object, object][] = [
  [
    'welcome',
    { ...WELCOME, turn },
    {
      ...WELCOME,
      limits: { ...WELCOME.limits, maxFutureThing: 9 },
      turn: { ...turn, realm: 'future' },
      features: ['quic'],
    },
  ],
  [
    'candidates',
    {
      type: 'candidates',
      from: B,
      rid: 'r',
      candidates: [cand],
      nat: { mapping: 'endpoint-independent' },
    },
    {
      type: 'candidates',
      from: B,
      rid: 'r',
      candidates: [{ ...cand, foundation: '1' }],
      nat: { mapping: 'endpoint-independent', ipv6: true },
      hint: 'x',
    },
  ],
  [
    'deliver',
    {
      type: 'deliver',
      n: { id: 'i', from: B, to: A, topic: 't', body: 'b', ts: 1, expires: 2 },
    },
    {
      type: 'deliver',
      n: { id: 'i', from: B, to: A, topic: 't', body: 'b', ts: 1, expires: 2, priority: 'high' },
      seq: 7,
    },
  ],
  ['ping', { type: 'ping', t: 5 }, { type: 'ping', t: 5, sentBy: 'node-2' }],
];

describe('forward compatibility: the client tolerates a newer serve', () => {
  it.each(cases)(
    '%s with extra fields is accepted and the extras are stripped',
    (_, known, newer) => {
      const d = decodeServerFrame(JSON.stringify(newer));
      // Stripped, not passed through: exactly the frame this client knows, at every depth.
      expect(d).toEqual({ known: true, message: known });
    },
  );

  it('an unknown frame type is reported as unknown, not as an error', () => {
    expect(decodeServerFrame(JSON.stringify({ type: 'relay-moved', to: 'x', n: 1 }))).toEqual({
      known: false,
      type: 'relay-moved',
    });
    // The type is cut before it reaches a log line.
    const long = decodeServerFrame(JSON.stringify({ type: 'x'.repeat(500) }));
    expect(long).toEqual({ known: false, type: 'x'.repeat(64) });
  });

  it.each([
    ['not JSON', '{'],
    ['not an object', '[1,2]'],
    ['null', 'null'],
    ['no type', JSON.stringify({ t: 1 })],
    ['type not a string', JSON.stringify({ type: 7 })],
    ['a known type with a wrong field type', JSON.stringify({ type: 'ping', t: 'soon' })],
    ['a known type missing a field', JSON.stringify({ type: 'presence', peer: A })],
    [
      'a bad nested field under extras',
      JSON.stringify({
        type: 'candidates',
        from: B,
        rid: 'r',
        candidates: [{ ...cand, port: 0, x: 1 }],
      }),
    ],
  ])('%s is still BAD_FRAME', (_, text) => {
    expect(code(() => decodeServerFrame(text))).toBe('NATPUSH_ERR_BAD_FRAME');
  });

  it('a frame over the size limit is still FRAME_TOO_LARGE', () => {
    const text = JSON.stringify({ type: 'relay-moved', pad: 'x'.repeat(100) });
    expect(code(() => decodeServerFrame(text, 50))).toBe('NATPUSH_ERR_FRAME_TOO_LARGE');
  });
});

describe('serve stays strict about what clients send', () => {
  it.each([
    ['hello', { type: 'hello', v: 1, peer: A, publicKey: 'AAAA', caps: ['x'] }],
    ['candidates', { type: 'candidates', to: B, rid: 'r', candidates: [], hint: 'x' }],
    [
      'a candidate',
      { type: 'candidates', to: B, rid: 'r', candidates: [{ ...cand, foundation: '1' }] },
    ],
    [
      'nat facts',
      { type: 'offer', candidates: [], ufrag: 'abcd', pwd: 'p'.repeat(22), nat: { ipv6: true } },
    ],
    ['ack (the fast path)', { type: 'ack', ids: ['i'], all: true }],
    ['ping', { type: 'ping', t: 1, x: 1 }],
  ])('%s with an extra field is BAD_FRAME', (_, frame) => {
    expect(code(() => decodeClientFrame(JSON.stringify(frame), 65_536))).toBe(
      'NATPUSH_ERR_BAD_FRAME',
    );
  });

  it('an unknown frame type from a client is BAD_FRAME', () => {
    expect(code(() => decodeClientFrame(JSON.stringify({ type: 'relay-moved' }), 65_536))).toBe(
      'NATPUSH_ERR_BAD_FRAME',
    );
  });

  it('the same frames without the extras are accepted (the refusal is about the extras)', () => {
    expect(decodeClientFrame(JSON.stringify({ type: 'ack', ids: ['i'] }), 65_536)).toEqual({
      type: 'ack',
      ids: ['i'],
    });
    const c = { type: 'candidates', to: B, rid: 'r', candidates: [cand] };
    expect(decodeClientFrame(JSON.stringify(c), 65_536)).toEqual(c);
  });
});
