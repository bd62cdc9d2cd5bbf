import { describe, expect, it } from 'vitest';
import { SessionErrorCode } from '../../../src/session/errors.js';
import {
  decodeFrames,
  fragmentOf,
  encodeAck,
  encodeData,
  encodeFrames,
  encodePing,
  FrameError,
  FrameType,
  MAX_BATCH_FRAMES,
} from '../../../src/session/reliable-frames.js';
import { isNatpushError } from '../../../src/util/errors.js';
import { prng } from './lossy-pipe.js';

/** A batch of `frames` (the layout reliable-frames.ts documents), built by hand. */
function batch(...frames: Uint8Array[]): Uint8Array {
  return encodeFrames(
    frames,
    frames.reduce((n, f) => n + f.length, 0),
  );
}

function rejection(bytes: Uint8Array): unknown {
  try {
    decodeFrames(bytes);
  } catch (e) {
    return e;
  }
  return undefined;
}

describe('batch frame: several frames in one sealed datagram', () => {
  it('round-trips data, ack and ping frames in order', () => {
    const data = encodeData(7, 10, 9, 1234, 0, 1, Buffer.from('hello'));
    const ack = encodeAck(8, 3, 99, 256, [[5, 7]]);
    const ping = encodePing(FrameType.PING, 42);
    const frames = decodeFrames(batch(data, ack, ping));
    expect(frames.map((f) => f.type)).toEqual([FrameType.DATA, FrameType.ACK, FrameType.PING]);
    const d = frames[0]!;
    if (d.type !== FrameType.DATA) throw new Error('not data');
    expect([d.epoch, d.pn, d.base, d.tsval, fragmentOf(d).toString()]).toEqual([
      7,
      10,
      9,
      1234,
      'hello',
    ]);
    expect(frames[1]).toMatchObject({ cumulative: 3, window: 256, ranges: [[5, 7]] });
    expect(frames[2]).toEqual({ type: FrameType.PING, nonce: 42 });
  });

  it('accepts exactly MAX_BATCH_FRAMES frames and rejects one more (the "huge count" case)', () => {
    const pings = (n: number) =>
      batch(...Array.from({ length: n }, (_, i) => encodePing(FrameType.PING, i)));
    expect(decodeFrames(pings(MAX_BATCH_FRAMES))).toHaveLength(MAX_BATCH_FRAMES);
    const e = rejection(pings(MAX_BATCH_FRAMES + 1));
    expect(e).toBeInstanceOf(FrameError);
    expect((e as FrameError).code).toBe(SessionErrorCode.BAD_FRAME);
  });

  const ping = [...encodePing(FrameType.PING, 1)];
  const hostile: [string, number[]][] = [
    ['empty batch', [0x05]],
    ['length prefix cut in half', [0x05, 5]],
    ['a frame cut after its length', [0x05, 5, 0]],
    ['length 65,535 in a 10-byte datagram', [0x05, 0xff, 0xff, ...ping]],
    ['length one past the end', [0x05, 6, 0, ...ping]],
    ['zero-length frame', [0x05, 0, 0]],
    ['good frame then a truncated one', [0x05, 5, 0, ...ping, 5, 0, 0x03]],
    ['good frame then a stray byte', [0x05, 5, 0, ...ping, 0x01]],
    ['nested batch', [0x05, 7, 0, 0x05, 5, 0, ...ping.slice(0, 4)]],
    ['unknown frame type inside', [0x05, 5, 0, ...ping, 2, 0, 0x09, 0]],
    ['ack whose range count overruns its length', [0x05, 16, 0, 0x02, ...Array(14).fill(0), 3]],
    ['data frame shorter than its header', [0x05, 5, 0, 0x01, 0, 0, 0, 0]],
  ];
  it.each(hostile)('rejects %s with a typed FrameError', (_name, bytes) => {
    const e = rejection(Uint8Array.from(bytes));
    expect(e).toBeInstanceOf(FrameError);
    expect(isNatpushError(e, SessionErrorCode.BAD_FRAME)).toBe(true);
  });

  it('mutations of a valid batch either parse or throw FrameError, nothing else (seeded)', () => {
    const valid = batch(
      encodeData(1, 2, 2, 3, 0, 2, Buffer.from('first fragment')),
      encodeData(1, 3, 2, 3, 1, 2, Buffer.from('second')),
      encodeAck(5, 9, 1, 64, [
        [11, 12],
        [14, 20],
      ]),
      encodePing(FrameType.PONG, 7),
    );
    const rand = prng(77);
    let parsed = 0;
    let rejected = 0;
    for (let i = 0; i < 5_000; i++) {
      const m = Uint8Array.from(valid, (x) => (rand() < 0.05 ? Math.floor(rand() * 256) : x));
      const cut = m.subarray(0, rand() < 0.3 ? Math.floor(rand() * m.length) : m.length);
      const e = rejection(cut);
      if (e === undefined) parsed++;
      else {
        expect(e).toBeInstanceOf(FrameError);
        rejected++;
      }
    }
    // Both outcomes occur, so the loop exercised the parser and the checks.
    expect(parsed).toBeGreaterThan(0);
    expect(rejected).toBeGreaterThan(0);
  });
});
