/**
 * SSE events and long-poll replies go through the same validation as WebSocket frames
 * (http-frames.ts, sse-decoder.ts): what serve's own writer produces decodes back to the same
 * frames, and anything malformed is a SignalingError with a stable code — never another kind
 * of exception, never a value that was not checked.
 */
import { describe, expect, it } from 'vitest';
import { LIMITS } from '../../../src/signaling/constants.js';
import {
  decodeHttpChallenge,
  decodeHttpSession,
  decodeHttpTurnCredentials,
  decodePollReply,
  decodeSseEvent,
  httpError,
  MAX_POLL_NOTIFICATIONS,
} from '../../../src/signaling/http-frames.js';
import { sseEvent } from '../../../src/signaling/http-transports.js';
import { SseDecoder, type SseEvent } from '../../../src/signaling/sse-decoder.js';
import { A, B, code } from './frames.js';

const n = {
  id: 'n-1',
  from: B,
  to: A,
  topic: 't',
  body: 'line 1\nline 2 "q" \u2028',
  ts: 1,
  expires: 2,
};

/** Events of `text` fed whole, and fed one character at a time: the split must not matter. */
function events(text: string): SseEvent[] {
  const whole = new SseDecoder().push(text);
  const d = new SseDecoder();
  const bytewise = [...text].flatMap((c) => d.push(c));
  expect(bytewise).toEqual(whole);
  return whole;
}

const ev = (event: string, data: string, id?: string): SseEvent => ({
  event,
  data,
  id,
  lastEventId: id ?? '',
});

describe('SseDecoder (WHATWG HTML §9.2.6)', () => {
  it('reads LF, CRLF and CR line ends, joins data lines with LF, skips comments and the BOM', () => {
    expect(events('\uFEFF: keepalive\n\nevent: a\ndata: 1\ndata:2\n\n')).toEqual([ev('a', '1\n2')]);
    // A CR at the end of the input may be half a CRLF: the comment after it settles it.
    expect(events('event: a\r\ndata: x\r\n\r\nevent: b\rdata: y\r\r: c\n')).toEqual([
      ev('a', 'x'),
      ev('b', 'y'),
    ]);
  });

  it('a CR at the end of the input waits for the next chunk', () => {
    const d = new SseDecoder();
    expect(d.push('data: y\r\r')).toEqual([]);
    // CRLF: the blank line that ends the event, taken once its LF came (not a second blank line).
    expect(d.push('\n')).toEqual([ev('message', 'y')]);
    expect(d.push('data: z\n\n')).toEqual([ev('message', 'z')]);
  });

  it('an event without data is not dispatched; no event field is "message"', () => {
    expect(events('event: a\n\ndata\n\n')).toEqual([ev('message', '')]);
  });

  it('keeps the last id across events, reports an event its own id, ignores ids with NUL', () => {
    const out = events('id: 1\ndata: a\n\ndata: b\n\nid: x\u0000y\ndata: c\n\n');
    expect(out).toEqual([
      { event: 'message', data: 'a', id: '1', lastEventId: '1' },
      { event: 'message', data: 'b', id: undefined, lastEventId: '1' },
      { event: 'message', data: 'c', id: undefined, lastEventId: '1' },
    ]);
  });

  it('takes retry only when it is all digits', () => {
    const d = new SseDecoder();
    d.push('retry: 15x\n\nretry: 2500\n\n');
    expect(d.retryMs).toBe(2500);
  });

  it('a line longer than the bound is FRAME_TOO_LARGE, and the decoder stays failed', () => {
    const d = new SseDecoder(100);
    expect(code(() => d.push('data: ' + 'x'.repeat(101)))).toBe('NATPUSH_ERR_FRAME_TOO_LARGE');
    expect(code(() => d.push('\n\n'))).toBe('NATPUSH_ERR_FRAME_TOO_LARGE');
  });

  it('data growing past the bound over many short lines is FRAME_TOO_LARGE', () => {
    const d = new SseDecoder(100);
    expect(code(() => d.push('data: 0123456789\n'.repeat(20)))).toBe('NATPUSH_ERR_FRAME_TOO_LARGE');
  });

  it('refuses a bound that is not a positive integer', () => {
    expect(() => new SseDecoder(0)).toThrow(RangeError);
  });
});

describe('decodeSseEvent: what serve writes reads back as the same frames', () => {
  it("welcome, deliver and error from serve's own writer (http-transports.ts sseEvent)", () => {
    const stream =
      sseEvent({ event: 'welcome', data: JSON.stringify({ peer: A, server: 's1' }) }) +
      ': keepalive\n\n' +
      sseEvent({ id: n.id, event: 'deliver', data: JSON.stringify(n) }) +
      sseEvent({
        event: 'error',
        data: JSON.stringify({ code: 'NATPUSH_ERR_SESSION_EXPIRED', message: 'm', fatal: true }),
      });
    expect(events(stream).map((e) => decodeSseEvent(e))).toEqual([
      { kind: 'open', peer: A, server: 's1' },
      { kind: 'frame', frame: { known: true, message: { type: 'deliver', n } } },
      {
        kind: 'frame',
        frame: {
          known: true,
          message: {
            type: 'error',
            code: 'NATPUSH_ERR_SESSION_EXPIRED',
            message: 'm',
            fatal: true,
          },
        },
      },
    ]);
  });

  it('is as tolerant as the WebSocket: extra fields stripped, an unknown event ignored', () => {
    expect(decodeSseEvent(ev('deliver', JSON.stringify({ ...n, priority: 'high' }), n.id))).toEqual(
      { kind: 'frame', frame: { known: true, message: { type: 'deliver', n } } },
    );
    expect(decodeSseEvent(ev('relay-moved', '{}'))).toEqual({
      kind: 'frame',
      frame: { known: false, type: 'relay-moved' },
    });
  });

  it.each([
    ['deliver data not JSON', ev('deliver', '{"id":')],
    ['deliver without a body', ev('deliver', JSON.stringify({ ...n, body: undefined }))],
    ['deliver with a from that is not an id', ev('deliver', JSON.stringify({ ...n, from: 'x y' }))],
    ['deliver whose id differs from the event id', ev('deliver', JSON.stringify(n), 'forged')],
    ['deliver data an array', ev('deliver', '[1]')],
    ['error data an array', ev('error', '[]')],
    ['error data null', ev('error', 'null')],
    ['error without fatal', ev('error', JSON.stringify({ code: 'X', message: 'm' }))],
    ['error data naming another frame type', ev('error', JSON.stringify({ type: 'deliver', n }))],
    ['welcome with a bad peer', ev('welcome', JSON.stringify({ peer: 'me', server: 's' }))],
    ['welcome data a string', ev('welcome', '"hi"')],
  ])('%s is BAD_FRAME', (_, e) => {
    expect(code(() => decodeSseEvent(e))).toBe('NATPUSH_ERR_BAD_FRAME');
  });

  it('data over the frame limit is FRAME_TOO_LARGE', () => {
    const big = ev('deliver', JSON.stringify({ ...n, body: 'x'.repeat(LIMITS.maxFrameBytes) }));
    expect(code(() => decodeSseEvent(big))).toBe('NATPUSH_ERR_FRAME_TOO_LARGE');
  });
});

describe('decodePollReply', () => {
  it('a 200 reply is its notifications as deliver frames, in order, extras stripped', () => {
    const m = { ...n, id: 'n-2' };
    const text = JSON.stringify({ notifications: [n, { ...m, seq: 2 }], cursor: 'x' });
    expect(decodePollReply(200, text)).toEqual([
      { type: 'deliver', n },
      { type: 'deliver', n: m },
    ]);
    expect(decodePollReply(200, '{"notifications":[]}')).toEqual([]);
  });

  it.each([
    ['not JSON', '<html>'],
    ['no notifications', '{}'],
    ['notifications not a list', '{"notifications":{}}'],
    ['a bad notification', JSON.stringify({ notifications: [n, { ...n, ts: 'now' }] })],
    [
      'more notifications than a poll can hold',
      JSON.stringify({ notifications: Array(MAX_POLL_NOTIFICATIONS + 1).fill(n) }),
    ],
  ])('%s is BAD_FRAME', (_, text) => {
    expect(code(() => decodePollReply(200, text))).toBe('NATPUSH_ERR_BAD_FRAME');
  });

  it('names the offending notification field', () => {
    const text = JSON.stringify({ notifications: [n, { ...n, ts: 'now' }] });
    expect(() => decodePollReply(200, text)).toThrow(/n\.ts/);
  });

  it('an error reply is thrown with its code, an unknown code kept as sent', () => {
    const body = (c: string) => JSON.stringify({ error: { code: c, message: 'm' } });
    expect(code(() => decodePollReply(409, body('NATPUSH_ERR_REPLACED')))).toBe(
      'NATPUSH_ERR_REPLACED',
    );
    expect(code(() => decodePollReply(503, body('NATPUSH_ERR_LATER')))).toBe('NATPUSH_ERR_LATER');
    // A proxy's HTML error page is no error body: BAD_FRAME, with the status.
    expect(httpError(502, '<html>bad gateway</html>').message).toMatch(/HTTP 502/);
    expect(code(() => decodePollReply(502, '<html>'))).toBe('NATPUSH_ERR_BAD_FRAME');
  });
});

describe('the HTTP login and TURN replies', () => {
  const turn = {
    username: `1700003600:${A}`,
    password: 'c2VjcmV0c2VjcmV0c2VjcmV0MTI=',
    ttl: 600,
    expires: 1700003600,
    urls: ['turn:198.51.100.1:3478?transport=udp'],
  };

  it('read as the frames they stand for, tolerant of extra fields', () => {
    const c = { server: 's', nonce: 'abc', expires: 9 };
    expect(decodeHttpChallenge(200, JSON.stringify({ ...c, pow: 1 }))).toEqual({
      type: 'challenge',
      ...c,
    });
    expect(decodeHttpTurnCredentials(200, JSON.stringify({ ...turn, realm: 'x' }))).toEqual(turn);
    const session = { peer: A, sessionToken: 't', expires: 5 };
    expect(decodeHttpSession(200, JSON.stringify(session))).toEqual(session);
  });

  it.each([
    ['a challenge without a nonce', () => decodeHttpChallenge(200, '{"server":"s","expires":1}')],
    ['a challenge that is a list', () => decodeHttpChallenge(200, '[]')],
    [
      'a challenge reply naming another type',
      () => decodeHttpChallenge(200, JSON.stringify({ type: 'welcome', server: 's', expires: 1 })),
    ],
    [
      'TURN credentials without urls',
      () => decodeHttpTurnCredentials(200, JSON.stringify({ ...turn, urls: [] })),
    ],
    ['a session without a token', () => decodeHttpSession(200, JSON.stringify({ peer: A }))],
    ['a session that is not JSON', () => decodeHttpSession(200, 'ok')],
  ])('%s is BAD_FRAME', (_, f) => {
    expect(code(f)).toBe('NATPUSH_ERR_BAD_FRAME');
  });

  it('an error status is thrown with its code', () => {
    const body = JSON.stringify({ error: { code: 'NATPUSH_ERR_BAD_SIGNATURE', message: 'm' } });
    expect(code(() => decodeHttpSession(401, body))).toBe('NATPUSH_ERR_BAD_SIGNATURE');
    expect(code(() => decodeHttpChallenge(403, body))).toBe('NATPUSH_ERR_BAD_SIGNATURE');
  });
});

describe('garbage never escapes as anything but a SignalingError', () => {
  /** Deterministic (mulberry32): the same inputs on every run. */
  function rng(seed: number): () => number {
    return () => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }
  const pieces = [
    '{',
    '}',
    '[',
    ']',
    '"',
    ':',
    ',',
    'null',
    '1',
    '"id"',
    '"n"',
    '"type"',
    '"deliver"',
    '"error"',
    '"code"',
    '"fatal"',
    'true',
    '\n',
    '\r',
    'data: ',
    'event: ',
    'id: ',
    JSON.stringify(n),
    '\u0000',
    '\uD800',
    ' ',
  ];

  it('2,000 seeded random streams through the SSE path and the poll path', () => {
    const r = rng(42);
    const pick = () => pieces[Math.floor(r() * pieces.length)]!;
    for (let i = 0; i < 2_000; i++) {
      const text = Array.from({ length: 1 + Math.floor(r() * 40) }, pick).join('');
      const d = new SseDecoder(4096);
      for (const chunk of [text, '\n\n']) {
        let out: SseEvent[] = [];
        const c = code(() => (out = d.push(chunk)));
        if (c) break;
        for (const e of out) code(() => decodeSseEvent(e));
      }
      code(() => decodePollReply(200, text));
      code(() => decodePollReply(400, text));
    }
  });
});
