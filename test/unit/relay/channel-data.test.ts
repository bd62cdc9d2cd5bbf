import { describe, expect, it } from 'vitest';
import {
  channelDataSize,
  decodeChannelData,
  encodeChannelData,
  isChannelData,
  writeChannelData,
} from '../../../src/relay/channel-data.js';
import { StreamDeframer, StreamFramingError } from '../../../src/relay/stream-framer.js';

const bytes = (...b: number[]): Uint8Array => Uint8Array.from(b);

describe('ChannelData framing (RFC 8656 §12.4/§12.5)', () => {
  it('encodes header, payload and no padding over UDP', () => {
    const m = encodeChannelData(0x4001, bytes(1, 2, 3));
    expect([...m]).toEqual([0x40, 0x01, 0x00, 0x03, 1, 2, 3]);
  });

  it('pads to a multiple of 4 over TCP without counting padding in Length', () => {
    const m = encodeChannelData(0x4fff, bytes(9, 9, 9, 9, 9), true);
    expect(m.length).toBe(12);
    expect([...m.subarray(0, 4)]).toEqual([0x4f, 0xff, 0x00, 0x05]);
    expect([...m.subarray(9)]).toEqual([0, 0, 0]);
    expect(channelDataSize(4, true)).toBe(8);
    expect(channelDataSize(0, true)).toBe(4);
  });

  it('decodes padded and unpadded datagrams to the same payload view', () => {
    for (const stream of [false, true]) {
      const d = decodeChannelData(encodeChannelData(0x4abc, bytes(7, 8), stream));
      expect(d?.channel).toBe(0x4abc);
      expect([...(d?.payload ?? [])]).toEqual([7, 8]);
    }
  });

  it('refuses reserved channel numbers and truncated messages', () => {
    expect(decodeChannelData(bytes(0x3f, 0xff, 0, 0))).toBeUndefined();
    expect(decodeChannelData(bytes(0x80, 0x00, 0, 0))).toBeUndefined();
    expect(decodeChannelData(bytes(0x40, 0x00, 0, 5, 1, 2))).toBeUndefined();
    expect(decodeChannelData(bytes(0x40, 0x00, 0))).toBeUndefined();
    expect(() => encodeChannelData(0x8000, bytes())).toThrow(RangeError);
    // RFC 5766's range, which coturn's client uses, is accepted.
    expect(decodeChannelData(bytes(0x7f, 0xff, 0, 0))?.channel).toBe(0x7fff);
    expect(() => encodeChannelData(0x3fff, bytes())).toThrow(RangeError);
    expect(() => writeChannelData(new Uint8Array(5), 0, 0x4000, bytes(1, 2), false)).toThrow(
      RangeError,
    );
  });

  it('tells ChannelData from STUN by the first byte (RFC 7983)', () => {
    expect(isChannelData(bytes(0x40))).toBe(true);
    expect(isChannelData(bytes(0x4f))).toBe(true);
    expect(isChannelData(bytes(0x00))).toBe(false);
    expect(isChannelData(bytes(0x50))).toBe(false);
    expect(isChannelData(bytes())).toBe(false);
  });
});

function stunFrame(bodyWords: number, fill = 0xaa): Uint8Array {
  const m = new Uint8Array(20 + bodyWords * 4).fill(fill);
  m[0] = 0x00;
  m[1] = 0x01;
  m[2] = 0;
  m[3] = bodyWords * 4;
  return m;
}

describe('StreamDeframer', () => {
  function collect(): { frames: [string, number[]][]; d: StreamDeframer } {
    const frames: [string, number[]][] = [];
    return { frames, d: new StreamDeframer((f, k) => frames.push([k, [...f]])) };
  }

  it('splits back-to-back STUN and padded ChannelData frames in one chunk', () => {
    const { frames, d } = collect();
    const a = stunFrame(1);
    const b = encodeChannelData(0x4000, bytes(1, 2, 3), true);
    const all = new Uint8Array([...a, ...b, ...a]);
    d.push(all);
    expect(frames.map((f) => f[0])).toEqual(['stun', 'channel-data', 'stun']);
    expect(frames[1]![1]).toEqual([...b]);
    expect(d.buffered).toBe(0);
  });

  it('reassembles frames cut at every possible byte boundary', () => {
    const a = stunFrame(3);
    const b = encodeChannelData(0x4123, bytes(5, 6, 7, 8, 9), true);
    const all = new Uint8Array([...a, ...b, ...b, ...a]);
    for (let cut1 = 0; cut1 <= all.length; cut1++) {
      for (const cut2 of [cut1, Math.min(all.length, cut1 + 3), all.length]) {
        const { frames, d } = collect();
        d.push(all.subarray(0, cut1));
        d.push(all.subarray(cut1, cut2));
        d.push(all.subarray(cut2));
        expect(frames.map((f) => f[0])).toEqual(['stun', 'channel-data', 'channel-data', 'stun']);
        expect(frames[1]![1]).toEqual([...b]);
        expect(frames[3]![1]).toEqual([...a]);
      }
    }
  });

  it('handles a byte-at-a-time maximal ChannelData frame', () => {
    const { frames, d } = collect();
    const big = encodeChannelData(0x4000, new Uint8Array(0xffff).fill(3), true);
    for (let i = 0; i < big.length; i += 1000) d.push(big.subarray(i, i + 1000));
    expect(frames).toHaveLength(1);
    expect(frames[0]![1].length).toBe(big.length);
  });

  it('fails on a byte that cannot start a frame and stays failed', () => {
    const { d } = collect();
    expect(() => d.push(bytes(0x80, 0, 0, 0))).toThrow(StreamFramingError);
    expect(() => d.push(stunFrame(0))).toThrow(StreamFramingError);
  });

  it('fails on a STUN length that is not a multiple of 4', () => {
    const { d } = collect();
    expect(() => d.push(bytes(0, 1, 0, 3))).toThrow(StreamFramingError);
  });

  it('never holds more than one partial frame, however large the chunks', () => {
    const { frames, d } = collect();
    const f = encodeChannelData(0x4000, new Uint8Array(1001), true);
    const many = new Uint8Array(f.length * 50 + 7);
    for (let i = 0; i < 50; i++) many.set(f, i * f.length);
    many.set(f.subarray(0, 7), f.length * 50);
    d.push(many.subarray(0, 3));
    d.push(many.subarray(3));
    expect(frames).toHaveLength(50);
    expect(d.buffered).toBe(7);
  });

  it('refuses frames above maxFrameBytes', () => {
    const d = new StreamDeframer(() => {}, 100);
    expect(() => d.push(bytes(0x40, 0, 0, 200))).toThrow(/exceeds 100/);
    expect(() => new StreamDeframer(() => {}, 10)).toThrow(RangeError);
  });
});
