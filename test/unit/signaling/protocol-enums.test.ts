/**
 * Enum values a newer serve may send (open-enum.ts): each class of field reads an unknown value
 * its own way and the frame is kept; a value of the wrong JSON type is still BAD_FRAME; and
 * serve stays strict about every enum a client sends.
 */
import { describe, expect, it } from 'vitest';
import { decodeClientFrame } from '../../../src/signaling/client-frame.js';
import { LIMITS } from '../../../src/signaling/constants.js';
import { decodeServerFrame, isExactServerFrame } from '../../../src/signaling/protocol.js';
import { A, B, code, message } from './frames.js';

const cand = { type: 'srflx', protocol: 'udp', address: '203.0.113.1', port: 4000 };

describe('informational, optional: an unknown value reads as absent', () => {
  it('presence.transport', () => {
    const m = message({ type: 'presence', peer: B, online: true, transport: 'webtransport' });
    expect(m).toStrictEqual({ type: 'presence', peer: B, online: true });
    expect('transport' in m).toBe(false);
    // A known value is kept as it is.
    expect(message({ type: 'presence', peer: B, online: true, transport: 'sse' })).toStrictEqual({
      type: 'presence',
      peer: B,
      online: true,
      transport: 'sse',
    });
  });

  it.each([
    ['mapping', 'endpoint-and-time-dependent'],
    ['filtering', 'cone-ish'],
    ['allocation', 'interleaved'],
  ])('nat.%s (the other facts stay)', (field, value) => {
    const nat = { mapping: 'endpoint-independent', delta: 2, portMapping: true, [field]: value };
    const m = message({ type: 'candidates', from: B, rid: 'r', candidates: [cand], nat });
    if (m.type !== 'candidates') throw new Error(m.type);
    const want: Record<string, unknown> = { mapping: 'endpoint-independent', delta: 2 };
    want.portMapping = true;
    delete want[field];
    expect(m.nat).toStrictEqual(want);
    expect(m.candidates).toStrictEqual([cand]);
  });
});

describe('informational, required: an unknown value reads as "unknown"', () => {
  it('delivered.via', () => {
    const m = message({ type: 'delivered', id: 'i', to: B, via: 'webtransport' });
    expect(m).toStrictEqual({ type: 'delivered', id: 'i', to: B, via: 'unknown' });
    for (const via of ['websocket', 'sse', 'poll'])
      expect(message({ type: 'delivered', id: 'i', to: B, via })).toMatchObject({ via });
  });
});

describe('needed to use a list element: that element is left out, the frame is kept', () => {
  const frame = (candidates: unknown[]) => ({ type: 'candidates', from: B, rid: 'r', candidates });

  it('a candidate of an unknown type or protocol is dropped; the others stay in order', () => {
    const host = { ...cand, type: 'host', address: '192.168.1.2' };
    const m = message(
      frame([
        host,
        { ...cand, type: 'nat64' },
        { ...cand, protocol: 'quic' },
        // A new kind may have fields of its own: they are not looked at.
        { type: 'mesh', protocol: 'udp', endpoint: { id: 7 }, port: 0 },
        cand,
      ]),
    );
    expect(m).toStrictEqual({ type: 'candidates', from: B, rid: 'r', candidates: [host, cand] });
  });

  it('a list of only unknown candidates becomes an empty list', () => {
    expect(message(frame([{ ...cand, type: 'nat64' }]))).toMatchObject({ candidates: [] });
  });

  it.each([
    ['a known candidate with a bad port', [{ ...cand, port: 0 }]],
    ['an element that is not an object', [cand, 'srflx 203.0.113.1 4000']],
    ['null', [null]],
    ['a type that is not a string', [{ ...cand, type: 3 }]],
    ['a missing protocol', [{ type: 'srflx', address: '203.0.113.1', port: 4000 }]],
    ['a type longer than 64', [{ ...cand, type: 'x'.repeat(65) }]],
    // The bound counts what arrived, dropped elements included.
    [
      'more elements than maxCandidates, even unknown ones',
      Array.from({ length: LIMITS.maxCandidates + 1 }, () => ({ ...cand, type: 'nat64' })),
    ],
  ])('%s is still BAD_FRAME', (_, candidates) => {
    expect(code(() => decodeServerFrame(JSON.stringify(frame(candidates))))).toBe(
      'NATPUSH_ERR_BAD_FRAME',
    );
  });

  it('the error names the element and field', () => {
    expect(() => decodeServerFrame(JSON.stringify(frame([cand, { ...cand, port: 0 }])))).toThrow(
      /candidates\.1\.port/,
    );
  });
});

describe('open by definition: error.code is kept as sent', () => {
  it('an error code this client does not know', () => {
    const e = { type: 'error', code: 'NATPUSH_ERR_QUOTA_V2', message: 'later', fatal: false };
    expect(message(e)).toStrictEqual(e);
  });
});

describe('the wrong JSON type is still BAD_FRAME in every class', () => {
  it.each([
    ['presence.transport a number', { type: 'presence', peer: B, online: true, transport: 1 }],
    [
      'presence.transport too long',
      { type: 'presence', peer: B, online: true, transport: 'w'.repeat(65) },
    ],
    ['delivered.via null', { type: 'delivered', id: 'i', to: B, via: null }],
    ['delivered.via missing', { type: 'delivered', id: 'i', to: B }],
    [
      'nat.mapping an object',
      { type: 'candidates', from: B, rid: 'r', candidates: [], nat: { mapping: {} } },
    ],
    ['error.code a number', { type: 'error', code: 7, message: 'm', fatal: true }],
    ['error.fatal a string', { type: 'error', code: 'X', message: 'm', fatal: 'yes' }],
  ])('%s', (_, frame) => {
    expect(code(() => decodeServerFrame(JSON.stringify(frame)))).toBe('NATPUSH_ERR_BAD_FRAME');
  });
});

describe('serve stays strict about the enums a client sends', () => {
  it.each([
    [
      'a candidate type',
      { type: 'candidates', to: A, rid: 'r', candidates: [{ ...cand, type: 'nat64' }] },
    ],
    [
      'a candidate protocol',
      { type: 'candidates', to: A, rid: 'r', candidates: [{ ...cand, protocol: 'quic' }] },
    ],
    [
      'a NAT mapping',
      { type: 'candidates', to: A, rid: 'r', candidates: [], nat: { mapping: 'symmetric' } },
    ],
    [
      'a NAT allocation in an offer',
      {
        type: 'offer',
        candidates: [],
        ufrag: 'abcd',
        pwd: 'p'.repeat(22),
        nat: { allocation: 'interleaved' },
      },
    ],
  ])('an unknown %s is BAD_FRAME', (_, frame) => {
    expect(code(() => decodeClientFrame(JSON.stringify(frame), LIMITS.maxFrameBytes))).toBe(
      'NATPUSH_ERR_BAD_FRAME',
    );
  });
});

describe('isExactServerFrame: what serve itself must send', () => {
  it.each([
    ['a known frame', { type: 'delivered', id: 'i', to: B, via: 'sse' }, true],
    ['an unknown via', { type: 'delivered', id: 'i', to: B, via: 'webtransport' }, false],
    ['an unknown transport', { type: 'presence', peer: B, online: true, transport: 'x' }, false],
    ['an extra key', { type: 'ping', t: 1, x: 1 }, false],
    [
      'an unknown candidate',
      { type: 'candidates', from: B, rid: 'r', candidates: [{ ...cand, type: 'nat64' }] },
      false,
    ],
    ['known candidates', { type: 'candidates', from: B, rid: 'r', candidates: [cand] }, true],
    ['a wrong field', { type: 'ping', t: 'x' }, false],
  ])('%s: %s', (_, frame, exact) => {
    expect(isExactServerFrame(frame)).toBe(exact);
  });
});
