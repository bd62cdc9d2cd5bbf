/**
 * The pure parts: RFC 7983 first-byte demux, RFC 8445 priorities, and the check codec with its
 * short-term credential rules.
 */
import { describe, expect, it } from 'vitest';
import {
  buildCheck,
  buildCheckSuccess,
  candidatePriority,
  checkTarget,
  classifyPacket,
  newIceCredentials,
  pairPriority,
  verifyCheck,
  verifyCheckResponse,
} from '../../../src/punch/index.js';
import {
  Attr,
  BINDING_REQUEST,
  decodeStunMessage,
  readXorAddress,
  StunMessageBuilder,
} from '../../../src/stun/index.js';

describe('RFC 7983 demultiplexing', () => {
  it.each([
    ['Binding request', new StunMessageBuilder(BINDING_REQUEST).build(), 'stun-request'],
    [
      'Binding success',
      buildCheckSuccess(
        decodeStunMessage(new StunMessageBuilder(BINDING_REQUEST).build()),
        { address: '198.51.100.1', port: 1 },
        'x'.repeat(22),
      ),
      'stun-response',
    ],
    [
      'Binding indication',
      Uint8Array.from([0x00, 0x11, 0, 0, 0x21, 0x12, 0xa4, 0x42, ...new Uint8Array(12)]),
      'stun-indication',
    ],
    ['STUN-looking bytes without the cookie', new Uint8Array(20), 'other'],
    ['ChannelData 0x4000', Uint8Array.of(0x40, 0, 0, 1, 9), 'channel-data'],
    ['ChannelData 0x4fff', Uint8Array.of(0x4f, 0xff, 0, 0), 'channel-data'],
    ['session 0xC0', Uint8Array.of(0xc0, 1), 'session'],
    ['session 0xCF', Uint8Array.of(0xcf, 1), 'session'],
    ['DTLS 22', Uint8Array.of(22, 1), 'other'],
    ['RTP 0x80', Uint8Array.of(0x80, 1), 'other'],
    ['0xD0, above our range', Uint8Array.of(0xd0, 1), 'other'],
    ['empty', new Uint8Array(0), 'other'],
  ])('%s → %s', (_name, bytes, want) => {
    expect(classifyPacket(bytes)).toBe(want);
  });
});

describe('RFC 8445 priorities', () => {
  it('§5.1.2.1: host with the top local preference is 2130706431, relay is 16777215', () => {
    expect(candidatePriority('host')).toBe(2130706431);
    expect(candidatePriority('srflx')).toBe(100 * 2 ** 24 + 65535 * 256 + 255);
    expect(candidatePriority('prflx')).toBe(110 * 2 ** 24 + 65535 * 256 + 255);
    expect(candidatePriority('relay')).toBe(16777215);
    expect(() => candidatePriority('host', 70000)).toThrow(RangeError);
  });

  it('§6.1.2.3: pair priority = 2^32·min + 2·max + (G > D)', () => {
    expect(pairPriority(5, 3)).toBe((3n << 32n) + 10n + 1n);
    expect(pairPriority(3, 5)).toBe((3n << 32n) + 10n);
    // Any direct pair outranks any pair with a relayed side.
    const direct = pairPriority(candidatePriority('srflx'), candidatePriority('srflx'));
    const relayed = pairPriority(candidatePriority('host'), candidatePriority('relay'));
    expect(direct > relayed).toBe(true);
  });
});

describe('connectivity check codec', () => {
  const a = newIceCredentials();
  const b = newIceCredentials();
  const from = { address: '198.51.100.7', port: 40000 };
  const check = buildCheck({
    local: a,
    remote: b,
    priority: candidatePriority('prflx'),
    role: 'controlling',
    tieBreaker: 0x0123456789abcdefn,
    useCandidate: true,
  });

  it('fresh credentials fit the signaling schema and differ per session', () => {
    expect(a.ufrag).toMatch(/^[A-Za-z0-9+/]{4,32}$/);
    expect(a.pwd).toMatch(/^[A-Za-z0-9+/]{22,64}$/);
    expect(a.ufrag).not.toBe(b.ufrag);
    expect(a.pwd).not.toBe(b.pwd);
  });

  it('verifies for its addressee with every ICE attribute read back', () => {
    const msg = decodeStunMessage(check);
    expect(checkTarget(msg)).toBe(b.ufrag);
    expect(verifyCheck(msg, b, a)).toEqual({
      priority: candidatePriority('prflx'),
      useCandidate: true,
      role: 'controlling',
      tieBreaker: 0x0123456789abcdefn,
    });
  });

  it('does not verify with the wrong pwd, the wrong ufrags, or one flipped byte', () => {
    const msg = decodeStunMessage(check);
    expect(verifyCheck(msg, { ...b, pwd: newIceCredentials().pwd }, a)).toBeUndefined();
    expect(verifyCheck(msg, a, b)).toBeUndefined(); // USERNAME is "b:a", not "a:b"
    expect(verifyCheck(msg, b, newIceCredentials())).toBeUndefined();
    const tampered = Uint8Array.from(check);
    tampered[30]! ^= 1; // inside USERNAME
    expect(verifyCheck(decodeStunMessage(tampered), b, a)).toBeUndefined();
  });

  it('the answer carries the source seen and verifies only with the responder pwd', () => {
    const res = decodeStunMessage(buildCheckSuccess(decodeStunMessage(check), from, b.pwd));
    expect(readXorAddress(res, Attr.XorMappedAddress)).toMatchObject(from);
    expect(verifyCheckResponse(res, b)).toBe(true);
    expect(verifyCheckResponse(res, a)).toBe(false);
  });
});
