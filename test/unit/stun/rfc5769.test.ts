/**
 * RFC 5769 test vectors: decode, check every attribute, verify MESSAGE-INTEGRITY and FINGERPRINT,
 * and re-encode the same bytes with our builder.
 */
import { describe, expect, it } from 'vitest';
import {
  Attr,
  StunClass,
  StunMessageBuilder,
  decodeStunMessage,
  longTermKey,
  readString,
  readUint32,
  readUint64,
  readXorAddress,
  shortTermKey,
  verifyFingerprint,
  verifyIntegrity,
} from '../../../src/stun/index.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const PASSWORD = 'VOkJxbRl1RmTxUk/WvJxBt';

// RFC 5769 §2.1 Sample Request
const REQUEST = hex(`
  000100582112a442b7e7a701bc34d686fa87dfae
  802200105354554e207465737420636c69656e74
  002400046e0001ff80290008932ff9b151263b36
  000600096576746a3a68367659202020
  000800149aeaa70cbfd8cb56781ef2b5b2d3f249c1b571a2
  80280004e57a3bcf`);
// RFC 5769 §2.2 Sample IPv4 Response
const RESPONSE_V4 = hex(`
  0101003c2112a442b7e7a701bc34d686fa87dfae
  8022000b7465737420766563746f7220
  002000080001a147e112a643
  000800142b91f599fd9e90c38c7489f92af9ba53f06be7d7
  80280004c07d4c96`);
// RFC 5769 §2.3 Sample IPv6 Response
const RESPONSE_V6 = hex(`
  010100482112a442b7e7a701bc34d686fa87dfae
  8022000b7465737420766563746f7220
  002000140002a1470113a9faa5d3f179bc25f4b5bed2b9d9
  00080014a382954e4be67bf11784c97c8292c275bfe3ed41
  80280004c8fb0b4c`);
// RFC 5769 §2.4 Sample Request with Long-Term Authentication
const REQUEST_LONG_TERM = hex(
  `
  000100602112a44278ad3433c6ad72c029da412e
  00060012e3839ee38388e383aae38383e382afe382b90000
  0015001c662f2f3439396b39353464364f4c33346f4c394653547679363473410
  0140000b6578616d706c652e6f726700
  00080014f67024656dd64a3e02b8e0712e85c9a28ca89666`.replace('0\n  0140', '\n  0014'),
);

describe('RFC 5769 test vectors', () => {
  it('§2.1 request: attributes, short-term MESSAGE-INTEGRITY, FINGERPRINT', () => {
    const msg = decodeStunMessage(REQUEST);
    expect(msg.cls).toBe(StunClass.Request);
    expect(msg.method).toBe(1);
    expect(readString(msg, Attr.Software)).toBe('STUN test client');
    expect(readUint32(msg, Attr.Priority)).toBe(0x6e0001ff);
    expect(readUint64(msg, Attr.IceControlled)).toBe(0x932ff9b151263b36n);
    expect(readString(msg, Attr.Username)).toBe('evtj:h6vY');
    expect(verifyIntegrity(msg, shortTermKey(PASSWORD))).toBe(true);
    expect(verifyIntegrity(msg, shortTermKey(PASSWORD + 'x'))).toBe(false);
    expect(verifyFingerprint(msg)).toBe(true);
  });

  it('§2.1 request re-encodes byte for byte up to MESSAGE-INTEGRITY', () => {
    const msg = decodeStunMessage(REQUEST);
    const bytes = new StunMessageBuilder(msg.type, msg.transactionId)
      .addString(Attr.Software, 'STUN test client')
      .addUint32(Attr.Priority, 0x6e0001ff)
      .addUint64(Attr.IceControlled, 0x932ff9b151263b36n)
      .addString(Attr.Username, 'evtj:h6vY')
      .addIntegrity(shortTermKey(PASSWORD))
      .addFingerprint()
      .build();
    // The vector pads USERNAME with 0x20 (bytes 73..75); we pad with zeros, which RFC 8489 §14
    // allows. Everything else up to MESSAGE-INTEGRITY must be identical.
    const expected = Buffer.from(REQUEST);
    expected.fill(0, 73, 76);
    expect(Buffer.from(bytes.subarray(0, msg.integrityOffset))).toEqual(
      expected.subarray(0, msg.integrityOffset),
    );
    expect(bytes.length).toBe(REQUEST.length);
    const reencoded = decodeStunMessage(bytes);
    expect(verifyIntegrity(reencoded, shortTermKey(PASSWORD))).toBe(true);
    expect(verifyFingerprint(reencoded)).toBe(true);
    // The MAC covers the padding: the vector with zeroed padding no longer verifies.
    expect(verifyIntegrity(decodeStunMessage(expected), shortTermKey(PASSWORD))).toBe(false);
  });

  it('§2.2 IPv4 response: XOR-MAPPED-ADDRESS 192.0.2.1:32853', () => {
    const msg = decodeStunMessage(RESPONSE_V4);
    expect(msg.cls).toBe(StunClass.Success);
    expect(readString(msg, Attr.Software)).toBe('test vector');
    expect(readXorAddress(msg, Attr.XorMappedAddress)).toEqual({
      address: '192.0.2.1',
      port: 32853,
      family: 'IPv4',
    });
    expect(verifyIntegrity(msg, shortTermKey(PASSWORD))).toBe(true);
    expect(verifyFingerprint(msg)).toBe(true);
  });

  it('§2.2 IPv4 response re-encodes byte for byte up to MESSAGE-INTEGRITY', () => {
    const msg = decodeStunMessage(RESPONSE_V4);
    const bytes = new StunMessageBuilder(msg.type, msg.transactionId)
      .addString(Attr.Software, 'test vector')
      .addXorAddress(Attr.XorMappedAddress, { address: '192.0.2.1', port: 32853 })
      .addIntegrity(shortTermKey(PASSWORD))
      .addFingerprint()
      .build();
    const expected = Buffer.from(RESPONSE_V4);
    expected[35] = 0; // the vector pads SOFTWARE with one 0x20 byte
    expect(Buffer.from(bytes.subarray(0, msg.integrityOffset))).toEqual(
      expected.subarray(0, msg.integrityOffset),
    );
    expect(verifyIntegrity(decodeStunMessage(bytes), shortTermKey(PASSWORD))).toBe(true);
    expect(verifyFingerprint(decodeStunMessage(bytes))).toBe(true);
  });

  it('§2.3 IPv6 response: XOR-MAPPED-ADDRESS [2001:db8:1234:5678:11:2233:4455:6677]:32853', () => {
    const msg = decodeStunMessage(RESPONSE_V6);
    expect(readXorAddress(msg, Attr.XorMappedAddress)).toEqual({
      address: '2001:db8:1234:5678:11:2233:4455:6677',
      port: 32853,
      family: 'IPv6',
    });
    expect(verifyIntegrity(msg, shortTermKey(PASSWORD))).toBe(true);
    expect(verifyFingerprint(msg)).toBe(true);
    const again = new StunMessageBuilder(msg.type, msg.transactionId)
      .addXorAddress(Attr.XorMappedAddress, {
        address: '2001:db8:1234:5678:11:2233:4455:6677',
        port: 32853,
      })
      .build();
    expect(Buffer.from(again.subarray(20))).toEqual(RESPONSE_V6.subarray(36, 60));
  });

  it('§2.4 long-term credentials: USERNAME, NONCE, REALM, MESSAGE-INTEGRITY', () => {
    const msg = decodeStunMessage(REQUEST_LONG_TERM);
    const username = '\u30DE\u30C8\u30EA\u30C3\u30AF\u30B9';
    expect(readString(msg, Attr.Username)).toBe(username);
    expect(readString(msg, Attr.Nonce)).toBe('f//499k954d6OL34oL9FSTvy64sA');
    expect(readString(msg, Attr.Realm)).toBe('example.org');
    // The RFC's password "The<U+00AD>M<U+00AA>tr<U+2168>" is "TheMatrIX" after SASLprep.
    expect(verifyIntegrity(msg, longTermKey(username, 'example.org', 'TheMatrIX'))).toBe(true);
    expect(verifyIntegrity(msg, longTermKey(username, 'example.org', 'TheMatrix'))).toBe(false);
    expect(verifyFingerprint(msg)).toBe(false); // this vector has no FINGERPRINT
  });
});
