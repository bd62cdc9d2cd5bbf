import { describe, expect, it } from 'vitest';
import { decodeClientFrame } from '../../../src/signaling/client-frame.js';
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
