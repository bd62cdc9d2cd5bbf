import { describe, expect, it, vi } from 'vitest';
import { decodeClientFrame, FAST_BODY_MAX } from '../../../src/signaling/client-frame.js';
import { LIMITS } from '../../../src/signaling/constants.js';
import { clientMessage, decodeFrame } from '../../../src/signaling/protocol.js';

/** What the schema path answers: the frame, or the error's code and message. */
function outcome(f: () => unknown): unknown {
  try {
    return { ok: f() };
  } catch (e) {
    const err = e as { code?: string; message: string };
    return { code: err.code, message: err.message };
  }
}

const ids = (n: number) => Array.from({ length: n }, (_, i) => `id-${i}`);

describe('decodeClientFrame: the ack fast path answers exactly what the schema answers', () => {
  it.each([
    ['a plain ack', JSON.stringify({ type: 'ack', ids: ['n1', 'app:x.y_z-1'] })],
    ['the most ids', JSON.stringify({ type: 'ack', ids: ids(LIMITS.maxAckIds) })],
    ['one id too many', JSON.stringify({ type: 'ack', ids: ids(LIMITS.maxAckIds + 1) })],
    ['no ids', '{"type":"ack","ids":[]}'],
    ['an extra key', '{"type":"ack","ids":["a"],"x":1}'],
    ['__proto__ key', '{"type":"ack","ids":["a"],"__proto__":{"x":1}}'],
    ['a duplicate key', '{"type":"ack","ids":["a"],"ids":["b"]}'],
    ['a number id', '{"type":"ack","ids":[1]}'],
    ['an id with a space', '{"type":"ack","ids":["a b"]}'],
    ['an id with a newline escape', '{"type":"ack","ids":["a\\nb"]}'],
    ['an escaped ascii id', '{"type":"ack","ids":["\\u0061"]}'],
    ['a 65-char id', JSON.stringify({ type: 'ack', ids: ['x'.repeat(65)] })],
    ['truncated JSON', '{"type":"ack","ids":["a"'],
    ['not an ack', JSON.stringify({ type: 'ping', t: 1 })],
    ['ack, keys the other way round', JSON.stringify({ ids: ['a'], type: 'ack' })],
  ])('%s', (_name, text) => {
    expect(outcome(() => decodeClientFrame(text, LIMITS.maxFrameBytes))).toEqual(
      outcome(() => decodeFrame(clientMessage, text, LIMITS.maxFrameBytes)),
    );
  });

  it('a frame over the size limit is refused as before', () => {
    const text = JSON.stringify({ type: 'ack', ids: ['a'] });
    expect(outcome(() => decodeClientFrame(text, 10))).toEqual(
      outcome(() => decodeFrame(clientMessage, text, 10)),
    );
  });
});

describe('decodeClientFrame: the notify fast path answers exactly what the schema answers', () => {
  const to = 'abcdefghijklmnopqrstuvwxyz234567';
  const base = { type: 'notify', ref: 'r1', id: 'n1', to, body: 'hello' };
  const j = (o: object) => JSON.stringify(o);
  it.each([
    ['a plain notify', j(base)],
    ['with a topic', j({ ...base, topic: 'alerts/disk' })],
    ['with a ttl', j({ ...base, ttl: 60 })],
    ['with a topic and a ttl', j({ ...base, topic: 't', ttl: 1 })],
    ['the longest ttl', j({ ...base, ttl: LIMITS.maxTtlSeconds })],
    ['a ttl too long', j({ ...base, ttl: LIMITS.maxTtlSeconds + 1 })],
    ['a ttl of 0', j({ ...base, ttl: 0 })],
    ['a fractional ttl', j({ ...base, ttl: 1.5 })],
    [
      'a ttl written 60.0',
      '{"type":"notify","ref":"r","id":"i","to":"' + to + '","body":"b","ttl":60.0}',
    ],
    ['a string ttl', j({ ...base, ttl: '60' })],
    ['a null topic', j({ ...base, topic: null })],
    ['an empty topic', j({ ...base, topic: '' })],
    ['a topic with a control character', j({ ...base, topic: 'a\u0007b' })],
    ['a topic with a bidi override', j({ ...base, topic: 'a\u202eb' })],
    ['a topic with a lone surrogate', j({ ...base, topic: 'a\ud800b' })],
    ['a topic too long', j({ ...base, topic: 't'.repeat(LIMITS.maxTopicLength + 1) })],
    ['an extra key', j({ ...base, x: 1 })],
    ['__proto__ key', j(base).slice(0, -1) + ',"__proto__":{"x":1}}'],
    ['a duplicate key', j(base).slice(0, -1) + ',"id":"n2"}'],
    ['no body', j({ type: 'notify', ref: 'r', id: 'i', to })],
    ['no ref', j({ type: 'notify', id: 'i', to, body: 'b' })],
    ['a number body', j({ ...base, body: 5 })],
    ['an empty body', j({ ...base, body: '' })],
    ['an id with a space', j({ ...base, id: 'a b' })],
    ['a 65-char ref', j({ ...base, ref: 'r'.repeat(65) })],
    ['a recipient in upper case', j({ ...base, to: to.toUpperCase() })],
    ['a recipient one char short', j({ ...base, to: to.slice(1) })],
    ['truncated JSON', j(base).slice(0, -2)],
    ['an array ref', '{"type":"notify","ref":[],"id":"i","to":"' + to + '","body":"b"}'],
    ['keys the other way round', j({ body: 'b', to, id: 'i', ref: 'r', type: 'notify' })],
    ['a non-ASCII body', j({ ...base, body: 'é€😀'.repeat(100) })],
    ['the longest fast body, 3-byte characters', j({ ...base, body: '€'.repeat(FAST_BODY_MAX) })],
    ['the longest fast body, all escaped', j({ ...base, body: '\u0001'.repeat(FAST_BODY_MAX) })],
    ['one past the fast body', j({ ...base, body: 'x'.repeat(FAST_BODY_MAX + 1) })],
    ['a body over the limit', j({ ...base, body: 'x'.repeat(LIMITS.maxSealedBodyBytes + 1) })],
    [
      'a body that only the escaping makes too large',
      j({ ...base, body: '\u0001'.repeat(Math.floor(LIMITS.maxSealedBodyBytes / 1.5)) }),
    ],
  ])('%s', (_name, text) => {
    expect(outcome(() => decodeClientFrame(text, LIMITS.maxFrameBytes))).toStrictEqual(
      outcome(() => decodeFrame(clientMessage, text, LIMITS.maxFrameBytes)),
    );
  });

  it('a frame over the size limit in bytes but not in characters is refused as before', () => {
    // 2,000 characters of 3 UTF-8 bytes each: under 4,096 in length, over it in bytes.
    const text = JSON.stringify({ ...base, body: '€'.repeat(2_000) });
    const want = outcome(() => decodeFrame(clientMessage, text, 4_096));
    expect(want).toMatchObject({ code: 'NATPUSH_ERR_FRAME_TOO_LARGE' });
    expect(outcome(() => decodeClientFrame(text, 4_096))).toStrictEqual(want);
  });

  it('a plain notify or ack does not go through the schema; anything else does', () => {
    const spy = vi.spyOn(clientMessage, 'safeParse');
    try {
      decodeClientFrame(j({ ...base, topic: 't', ttl: 5 }), LIMITS.maxFrameBytes);
      decodeClientFrame(j({ type: 'ack', ids: ['a'] }), LIMITS.maxFrameBytes);
      expect(spy).not.toHaveBeenCalled();
      decodeClientFrame(j({ type: 'ping', t: 1 }), LIMITS.maxFrameBytes);
      expect(spy).toHaveBeenCalledTimes(1);
    } finally {
      spy.mockRestore();
    }
  });
});
