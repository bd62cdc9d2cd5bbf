import { describe, expect, it } from 'vitest';
import {
  Attr,
  BINDING_REQUEST,
  BINDING_SUCCESS,
  Method,
  PasswordAlgorithm,
  StunClass,
  StunDecodeError,
  StunMessageBuilder,
  classOf,
  decodeStunMessage,
  isStunMessage,
  longTermKey,
  messageType,
  methodOf,
  readAddress,
  readAddressErrorCode,
  readAddressFamily,
  readChangeRequest,
  readChannelNumber,
  readErrorCode,
  readEvenPort,
  readLifetime,
  readMappedAddress,
  readPasswordAlgorithm,
  readPasswordAlgorithms,
  readRequestedTransport,
  readReservationToken,
  readResponsePort,
  readString,
  readUnknownAttributes,
  readUserhash,
  readXorAddress,
  readXorAddresses,
  stunMessageLength,
  userhash,
  verifyFingerprint,
  verifyIntegrity,
} from '../../../src/stun/index.js';
import { fuzzStunDecoder, seedMessages } from '../../../bench/lib/stun-fuzz.js';

const TX = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);

function expectMalformed(b: Uint8Array, pattern: RegExp): void {
  let caught: unknown;
  try {
    decodeStunMessage(b);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(StunDecodeError);
  expect((caught as StunDecodeError).code).toBe('NATPUSH_ERR_STUN_MALFORMED');
  expect((caught as Error).message).toMatch(pattern);
}

describe('message type', () => {
  it.each([
    [Method.Binding, StunClass.Request, 0x0001],
    [Method.Binding, StunClass.Success, 0x0101],
    [Method.Binding, StunClass.Error, 0x0111],
    [Method.Allocate, StunClass.Request, 0x0003],
    [Method.Allocate, StunClass.Error, 0x0113],
    [Method.Send, StunClass.Indication, 0x0016],
    [Method.Data, StunClass.Indication, 0x0017],
    [Method.ChannelBind, StunClass.Success, 0x0109],
    [0xfff, StunClass.Error, 0x3fff],
  ])('method %i class %i is type 0x%s', (method, cls, type) => {
    expect(messageType(method, cls)).toBe(type);
    expect(methodOf(type)).toBe(method);
    expect(classOf(type)).toBe(cls);
  });
  it('rejects methods out of range', () => {
    expect(() => messageType(0x1000, StunClass.Request)).toThrow(RangeError);
  });
});

describe('codec round trip', () => {
  it('carries every TURN (RFC 8656) attribute the relay needs', () => {
    const key = longTermKey('alice', 'natpush', 's3cret', PasswordAlgorithm.SHA256);
    const bytes = StunMessageBuilder.of(Method.Allocate, StunClass.Request, TX)
      .addString(Attr.Username, 'alice')
      .addString(Attr.Realm, 'natpush')
      .addString(Attr.Nonce, 'n0nce')
      .addBytes(Attr.Userhash, userhash('alice', 'natpush'))
      .addPasswordAlgorithms([
        { algorithm: PasswordAlgorithm.MD5 },
        { algorithm: PasswordAlgorithm.SHA256 },
      ])
      .addPasswordAlgorithm(PasswordAlgorithm.SHA256)
      .addRequestedTransport(17)
      .addEvenPort(true)
      .addFlag(Attr.DontFragment)
      .addAddressFamily(Attr.RequestedAddressFamily, 'IPv4')
      .addAddressFamily(Attr.AdditionalAddressFamily, 'IPv6')
      .addBytes(Attr.ReservationToken, new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]))
      .addUint32(Attr.Lifetime, 600)
      .addChannelNumber(0x4000)
      .addXorAddress(Attr.XorPeerAddress, { address: '203.0.113.9', port: 5000 })
      .addXorAddress(Attr.XorPeerAddress, { address: '2001:db8::9', port: 5001 })
      .addXorAddress(Attr.XorRelayedAddress, { address: '198.51.100.1', port: 49152 })
      .addBytes(Attr.Data, new Uint8Array([0xde, 0xad, 0xbe]))
      .addAddressErrorCode('IPv6', 440, 'Address Family not Supported')
      .addIntegrity(key)
      .addIntegritySha256(key)
      .addFingerprint()
      .build();
    expect(bytes.length % 4).toBe(0);
    const m = decodeStunMessage(bytes);
    expect(m.method).toBe(Method.Allocate);
    expect(m.cls).toBe(StunClass.Request);
    expect(Array.from(m.transactionId)).toEqual(Array.from(TX));
    expect(readString(m, Attr.Username)).toBe('alice');
    expect(readString(m, Attr.Realm)).toBe('natpush');
    expect(readString(m, Attr.Nonce)).toBe('n0nce');
    expect(Buffer.from(readUserhash(m)!)).toEqual(userhash('alice', 'natpush'));
    expect(readPasswordAlgorithms(m)!.map((a) => a.algorithm)).toEqual([1, 2]);
    expect(readPasswordAlgorithm(m)!.algorithm).toBe(2);
    expect(readRequestedTransport(m)).toBe(17);
    expect(readEvenPort(m)).toEqual({ reserveNext: true });
    expect(m.has(Attr.DontFragment)).toBe(true);
    expect(readAddressFamily(m, Attr.RequestedAddressFamily)).toBe('IPv4');
    expect(readAddressFamily(m, Attr.AdditionalAddressFamily)).toBe('IPv6');
    expect(Array.from(readReservationToken(m)!)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(readLifetime(m)).toBe(600);
    expect(readChannelNumber(m)).toBe(0x4000);
    expect(readXorAddresses(m, Attr.XorPeerAddress)).toEqual([
      { address: '203.0.113.9', port: 5000, family: 'IPv4' },
      { address: '2001:db8::9', port: 5001, family: 'IPv6' },
    ]);
    expect(readXorAddress(m, Attr.XorRelayedAddress)?.port).toBe(49152);
    expect(Array.from(m.get(Attr.Data)!)).toEqual([0xde, 0xad, 0xbe]);
    expect(readAddressErrorCode(m)).toEqual({
      family: 'IPv6',
      code: 440,
      reason: 'Address Family not Supported',
    });
    expect(verifyIntegrity(m, key, 'sha1')).toBe(true);
    expect(verifyIntegrity(m, key, 'sha256')).toBe(true);
    expect(verifyIntegrity(m, key)).toBe(true);
    expect(
      verifyIntegrity(m, longTermKey('alice', 'natpush', 'wrong', PasswordAlgorithm.SHA256)),
    ).toBe(false);
    expect(verifyFingerprint(m)).toBe(true);
  });

  it('DATA is a zero-copy view of the received bytes', () => {
    const bytes = new StunMessageBuilder(0x0017, TX)
      .addBytes(Attr.Data, new Uint8Array([9, 8, 7]))
      .build();
    const m = decodeStunMessage(bytes);
    const data = m.get(Attr.Data)!;
    expect(data.buffer).toBe(bytes.buffer);
  });

  it('Binding with RFC 5780 attributes', () => {
    const req = decodeStunMessage(
      new StunMessageBuilder(BINDING_REQUEST, TX)
        .addChangeRequest({ ip: true })
        .addResponsePort(4000)
        .build(),
    );
    expect(readChangeRequest(req)).toEqual({ ip: true, port: false });
    expect(readResponsePort(req)).toBe(4000);
    const res = decodeStunMessage(
      new StunMessageBuilder(BINDING_SUCCESS, TX)
        .addAddress(Attr.MappedAddress, { address: '192.0.2.1', port: 1 })
        .addAddress(Attr.OtherAddress, { address: '203.0.113.2', port: 3479 })
        .addAddress(Attr.ResponseOrigin, { address: '::1', port: 3478 })
        .build(),
    );
    expect(readMappedAddress(res)).toEqual({ address: '192.0.2.1', port: 1, family: 'IPv4' });
    expect(readAddress(res, Attr.OtherAddress)?.address).toBe('203.0.113.2');
    expect(readAddress(res, Attr.ResponseOrigin)).toEqual({
      address: '::1',
      port: 3478,
      family: 'IPv6',
    });
  });

  it('error responses carry code, reason and unknown attributes', () => {
    const m = decodeStunMessage(
      new StunMessageBuilder(0x0111, TX)
        .addErrorCode(420, 'Unknown Attribute')
        .addUnknownAttributes([0x0042, 0x7fff])
        .build(),
    );
    expect(readErrorCode(m)).toEqual({ code: 420, reason: 'Unknown Attribute' });
    expect(readUnknownAttributes(m)).toEqual([0x0042, 0x7fff]);
  });

  it('reports unknown comprehension-required attributes, not optional ones', () => {
    const m = decodeStunMessage(
      new StunMessageBuilder(BINDING_REQUEST, TX)
        .addBytes(0x0042, new Uint8Array(1))
        .addBytes(0x8042, new Uint8Array(2))
        .addString(Attr.Software, 'x')
        .build(),
    );
    expect(m.unknownComprehensionRequired(new Set([Attr.Software]))).toEqual([0x0042]);
  });

  it('ignores attributes after MESSAGE-INTEGRITY except MI-SHA256 and FINGERPRINT (RFC 8489 §14.5)', () => {
    const key = Buffer.from('k');
    const bytes = new StunMessageBuilder(BINDING_REQUEST, TX)
      .addIntegrity(key)
      .addString(Attr.Software, 'smuggled')
      .addFingerprint()
      .build();
    const m = decodeStunMessage(bytes);
    expect(m.has(Attr.Software)).toBe(false);
    expect(verifyIntegrity(m, key)).toBe(true);
    expect(verifyFingerprint(m)).toBe(true);
  });

  it('frames messages on a stream by the length field', () => {
    const bytes = new StunMessageBuilder(BINDING_REQUEST, TX)
      .addString(Attr.Software, 'abc')
      .build();
    expect(stunMessageLength(bytes.subarray(0, 3))).toBeUndefined();
    expect(stunMessageLength(bytes)).toBe(bytes.length);
    expect(isStunMessage(bytes)).toBe(true);
    expect(
      isStunMessage(new Uint8Array([0x40, 0, 0, 4, 0x21, 0x12, 0xa4, 0x42, ...new Uint8Array(12)])),
    ).toBe(false);
  });

  it('builder refuses misuse with TypeError/RangeError', () => {
    const b = new StunMessageBuilder(BINDING_REQUEST, TX);
    expect(() => b.addXorAddress(Attr.XorMappedAddress, { address: 'nope', port: 1 })).toThrow(
      TypeError,
    );
    expect(() => b.addAddress(Attr.MappedAddress, { address: '1.2.3.4', port: 70000 })).toThrow(
      RangeError,
    );
    expect(() => b.addString(Attr.Username, 'x'.repeat(513))).toThrow(RangeError);
    expect(() => b.addErrorCode(200, 'no')).toThrow(RangeError);
    expect(() => new StunMessageBuilder(BINDING_REQUEST, new Uint8Array(11))).toThrow(RangeError);
    b.addFingerprint();
    expect(() => b.addString(Attr.Software, 'late')).toThrow(TypeError);
  });
});

describe('malformed input is rejected with StunDecodeError', () => {
  const valid = (): Buffer =>
    Buffer.from(
      new StunMessageBuilder(BINDING_REQUEST, TX).addString(Attr.Software, 'abcd').build(),
    );
  it('short, bad leading bits, bad cookie, bad length', () => {
    expectMalformed(new Uint8Array(19), /shorter than 20/);
    const b1 = valid();
    b1[0] = 0x40;
    expectMalformed(b1, /first two bits/);
    const b2 = valid();
    b2[4] = 0;
    expectMalformed(b2, /magic cookie/);
    const b3 = valid();
    b3[3] = 9;
    expectMalformed(b3, /multiple of 4/);
    const b4 = valid();
    b4[3] = 4;
    expectMalformed(b4, /does not match/);
  });
  it('attribute running past the end', () => {
    const b = valid();
    b[23] = 200;
    expectMalformed(b, /runs past the end/);
  });
  it('attribute after FINGERPRINT', () => {
    const fp = Buffer.from(new StunMessageBuilder(BINDING_REQUEST, TX).addFingerprint().build());
    const extra = Buffer.concat([fp, Buffer.from([0x80, 0x22, 0, 0])]);
    extra.writeUInt16BE(extra.length - 20, 2);
    expectMalformed(extra, /after FINGERPRINT/);
  });
  it('too many attributes', () => {
    const b = new StunMessageBuilder(BINDING_REQUEST, TX);
    for (let i = 0; i < 65; i++) b.addFlag(0x8050);
    expectMalformed(b.build(), /more than 64 attributes/);
  });
  it('bad values surface from the typed readers', () => {
    const m = decodeStunMessage(
      new StunMessageBuilder(BINDING_SUCCESS, TX)
        .addBytes(Attr.XorMappedAddress, new Uint8Array([0, 3, 0, 0, 1, 2, 3, 4]))
        .addBytes(Attr.Username, new Uint8Array([0xff, 0xfe]))
        .addBytes(Attr.ErrorCode, new Uint8Array([0, 0, 2, 0]))
        .build(),
    );
    expect(() => readXorAddress(m, Attr.XorMappedAddress)).toThrow(StunDecodeError);
    expect(() => readString(m, Attr.Username)).toThrow(StunDecodeError);
    expect(() => readErrorCode(m)).toThrow(StunDecodeError);
  });
});

describe('fuzz (short loop; bench/stun-fuzz.ts runs 1,000,000)', () => {
  it('20,000 random and mutated inputs: only StunDecodeError, every input fast', () => {
    const r = fuzzStunDecoder(20_000, 42);
    expect(r.inputs).toBe(20_000);
    expect(r.ok + r.rejected).toBe(20_000);
    // Both outcomes must occur, or the generator is not reaching the parser.
    expect(r.ok).toBeGreaterThan(500);
    expect(r.rejected).toBeGreaterThan(500);
  });
  it('seed messages themselves decode', () => {
    for (const s of seedMessages()) expect(() => decodeStunMessage(s)).not.toThrow();
  });
});
