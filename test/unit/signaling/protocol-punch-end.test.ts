/**
 * The `punch-end` frame (client-messages.ts `punchEnd`, server-messages.ts `punchEndIn`) and
 * `welcome.frames`, which tells a client that serve takes it: serve is strict about every field
 * a client sends (a malformed one is a typed BAD_FRAME), the client reads an unknown reason as
 * `'unknown'` and keeps frame types it does not know.
 */
import { describe, expect, it } from 'vitest';
import { decodeClientFrame } from '../../../src/signaling/client-frame.js';
import { LIMITS } from '../../../src/signaling/constants.js';
import { SignalingError } from '../../../src/signaling/errors.js';
import {
  clientMessage,
  decodeFrame,
  decodeServerFrame,
  encodeFrame,
  MAX_SERVER_FRAMES,
  PUNCH_END_REASONS,
  SERVER_FRAMES,
} from '../../../src/signaling/protocol.js';
import { A, B, message, WELCOME } from './frames.js';

const UFRAG = 'Ab+/9xYz';

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(SignalingError);
    return (err as SignalingError).code;
  }
  return undefined;
}

describe('punch-end, client → serve (strict)', () => {
  it.each(PUNCH_END_REASONS.map((reason) => [reason]))('takes reason %s', (reason) => {
    const m = { type: 'punch-end', to: B, rid: 'r-1.x:y', ufrag: UFRAG, reason };
    expect(decodeFrame(clientMessage, JSON.stringify(m))).toEqual(m);
    expect(decodeClientFrame(JSON.stringify(m), LIMITS.maxFrameBytes)).toEqual(m);
  });

  it('takes one without a ufrag', () => {
    const m = { type: 'punch-end', to: B, rid: 'r', reason: 'failed' };
    expect(decodeFrame(clientMessage, JSON.stringify(m))).toEqual(m);
  });

  const ok = { type: 'punch-end', to: B, rid: 'r', ufrag: UFRAG, reason: 'aborted' };
  it.each([
    ['a reason serve does not know', { ...ok, reason: 'bored' }],
    ['a reason that is not a string', { ...ok, reason: 3 }],
    ['no reason', { type: 'punch-end', to: B, rid: 'r' }],
    ['no rid', { type: 'punch-end', to: B, reason: 'failed' }],
    ['a rid with a space', { ...ok, rid: 'a b' }],
    ['a rid longer than 64', { ...ok, rid: 'r'.repeat(65) }],
    ['no peer', { type: 'punch-end', rid: 'r', reason: 'failed' }],
    ['a peer that is not a peer id', { ...ok, to: 'B' }],
    ['a ufrag shorter than 4', { ...ok, ufrag: 'abc' }],
    ['a ufrag with a non-ice char', { ...ok, ufrag: 'abc-def' }],
    ['a ufrag longer than 32', { ...ok, ufrag: 'a'.repeat(33) }],
    ['a field serve does not know', { ...ok, extra: 1 }],
    ['`from` set by the client', { ...ok, from: A }],
  ])('refuses %s with a typed BAD_FRAME', (_name, frame) => {
    expect(codeOf(() => decodeFrame(clientMessage, JSON.stringify(frame)))).toBe(
      'NATPUSH_ERR_BAD_FRAME',
    );
  });
});

describe('punch-end, serve → client (tolerant)', () => {
  it('round-trips what serve sends', () => {
    const m = {
      type: 'punch-end' as const,
      from: A,
      rid: 'r',
      ufrag: UFRAG,
      reason: 'relay-lost' as const,
    };
    expect(decodeServerFrame(encodeFrame(m))).toEqual({ known: true, message: m });
  });

  it('reads a reason it does not know as "unknown", and strips fields it does not know', () => {
    expect(message({ type: 'punch-end', from: A, rid: 'r', reason: 'moved', later: 1 })).toEqual({
      type: 'punch-end',
      from: A,
      rid: 'r',
      reason: 'unknown',
    });
  });

  it.each([
    ['no from', { type: 'punch-end', rid: 'r', reason: 'failed' }],
    ['a bad from', { type: 'punch-end', from: 'x', rid: 'r', reason: 'failed' }],
    ['a bad rid', { type: 'punch-end', from: A, rid: '', reason: 'failed' }],
    ['a reason longer than 64', { type: 'punch-end', from: A, rid: 'r', reason: 'x'.repeat(65) }],
    ['a reason that is not a string', { type: 'punch-end', from: A, rid: 'r', reason: null }],
    ['a bad ufrag', { type: 'punch-end', from: A, rid: 'r', ufrag: '!', reason: 'failed' }],
  ])('%s is a typed BAD_FRAME', (_name, frame) => {
    expect(codeOf(() => decodeServerFrame(JSON.stringify(frame)))).toBe('NATPUSH_ERR_BAD_FRAME');
  });
});

describe('welcome.frames', () => {
  const welcome = WELCOME;

  it('serve lists punch-end', () => {
    expect(SERVER_FRAMES).toContain('punch-end');
  });

  it('keeps names it does not know (they never match) and is optional (an older serve)', () => {
    const m = message({ ...welcome, frames: ['punch-end', 'later-frame'] });
    expect(m).toMatchObject({ frames: ['punch-end', 'later-frame'] });
    expect(message(welcome)).not.toHaveProperty('frames');
  });

  it.each([
    ['more than MAX_SERVER_FRAMES names', Array(MAX_SERVER_FRAMES + 1).fill('x')],
    ['a name longer than 64', ['x'.repeat(65)]],
    ['a name that is not a string', [1]],
    ['not a list', 'punch-end'],
  ])('%s is a typed BAD_FRAME', (_name, frames) => {
    expect(codeOf(() => decodeServerFrame(JSON.stringify({ ...welcome, frames })))).toBe(
      'NATPUSH_ERR_BAD_FRAME',
    );
  });
});
