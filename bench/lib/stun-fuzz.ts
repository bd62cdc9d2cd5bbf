/**
 * Fuzzing of the STUN decoder, shared by test/unit/stun/codec.test.ts (a short loop) and bench/stun-fuzz.ts
 * (1,000,000 inputs). Each input is decoded and every typed reader is run over the result; the
 * only acceptable failure is StunDecodeError. Seeded, so a failure is reproducible by its seed.
 */
import {
  Attr,
  StunDecodeError,
  StunMessageBuilder,
  decodeStunMessage,
  longTermKey,
  readAddress,
  readAddressErrorCode,
  readAddressFamily,
  readChangeRequest,
  readChannelNumber,
  readErrorCode,
  readEvenPort,
  readPasswordAlgorithm,
  readPasswordAlgorithms,
  readRequestedTransport,
  readReservationToken,
  readResponsePort,
  readString,
  readUint32,
  readUint64,
  readUnknownAttributes,
  readUserhash,
  readXorAddresses,
  verifyFingerprint,
  verifyIntegrity,
  BINDING_REQUEST,
  BINDING_SUCCESS,
} from '../../src/stun/index.js';

export class Rng {
  #s: number;
  constructor(seed: number) {
    this.#s = seed >>> 0 || 1;
  }
  next(): number {
    let x = this.#s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.#s = x >>> 0;
    return this.#s;
  }
  int(n: number): number {
    return this.next() % n;
  }
  bytes(n: number): Uint8Array {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = this.next() & 0xff;
    return b;
  }
}

const KEY = longTermKey('user', 'realm', 'pass');

/** Valid messages to mutate: every attribute kind the codec knows. */
export function seedMessages(): Uint8Array[] {
  const tx = new Uint8Array(12).fill(7);
  const copy = (b: Uint8Array): Uint8Array => Uint8Array.from(b);
  return [
    copy(
      new StunMessageBuilder(BINDING_REQUEST, tx)
        .addChangeRequest({ ip: true, port: true })
        .addFingerprint()
        .build(),
    ),
    copy(
      new StunMessageBuilder(BINDING_SUCCESS, tx)
        .addXorAddress(Attr.XorMappedAddress, { address: '198.51.100.7', port: 40000 })
        .addAddress(Attr.OtherAddress, { address: '203.0.113.2', port: 3479 })
        .addAddress(Attr.ResponseOrigin, { address: '2001:db8::1', port: 3478 })
        .addString(Attr.Software, 'natpush')
        .addFingerprint()
        .build(),
    ),
    copy(
      new StunMessageBuilder(0x0003, tx)
        .addString(Attr.Username, 'user')
        .addString(Attr.Realm, 'realm')
        .addString(Attr.Nonce, 'nonce-123')
        .addRequestedTransport(17)
        .addEvenPort(true)
        .addFlag(Attr.DontFragment)
        .addAddressFamily(Attr.AdditionalAddressFamily, 'IPv6')
        .addPasswordAlgorithms([
          { algorithm: 1 },
          { algorithm: 2, parameters: new Uint8Array([1, 2, 3]) },
        ])
        .addPasswordAlgorithm(2)
        .addBytes(Attr.Userhash, new Uint8Array(32).fill(9))
        .addIntegrity(KEY)
        .addIntegritySha256(KEY)
        .addFingerprint()
        .build(),
    ),
    copy(
      new StunMessageBuilder(0x0113, tx)
        .addErrorCode(401, 'Unauthorized')
        .addUnknownAttributes([0x7777, 0x0033])
        .addAddressErrorCode('IPv6', 440, 'Address Family not Supported')
        .addBytes(Attr.ReservationToken, new Uint8Array(8).fill(1))
        .build(),
    ),
    copy(
      new StunMessageBuilder(0x0017, tx)
        .addXorAddress(Attr.XorPeerAddress, { address: '::ffff:1.2.3.4', port: 1 })
        .addXorAddress(Attr.XorPeerAddress, { address: '10.0.0.1', port: 65535 })
        .addChannelNumber(0x4001)
        .addUint32(Attr.Lifetime, 600)
        .addResponsePort(1234)
        .addBytes(Attr.Data, new Uint8Array(37).fill(0xab))
        .build(),
    ),
  ];
}

export function mutate(rng: Rng, seed: Uint8Array): Uint8Array {
  const b = Uint8Array.from(seed);
  switch (rng.int(6)) {
    case 0: {
      for (let n = 1 + rng.int(4); n > 0; n--) b[rng.int(b.length)]! ^= 1 << rng.int(8);
      return b;
    }
    case 1: {
      for (let n = 1 + rng.int(4); n > 0; n--) b[rng.int(b.length)] = rng.next() & 0xff;
      return b;
    }
    case 2:
      return b.subarray(0, rng.int(b.length + 1));
    case 3: {
      // Corrupt an attribute length field, the classic parser killer.
      const o = 20 + 4 * rng.int(Math.max(1, (b.length - 20) >> 2));
      if (o + 4 <= b.length) {
        b[o + 2] = rng.next() & 0xff;
        b[o + 3] = rng.next() & 0xff;
      }
      return b;
    }
    case 4: {
      // Set the message length field to anything.
      b[2] = rng.next() & 0xff;
      b[3] = rng.next() & 0xff;
      return b;
    }
    default: {
      // Append random bytes and fix up the header length so the walk goes further.
      const extra = rng.bytes(4 * rng.int(16));
      const out = new Uint8Array(b.length + extra.length);
      out.set(b);
      out.set(extra, b.length);
      const len = out.length - 20;
      out[2] = len >> 8;
      out[3] = len & 0xff;
      return out;
    }
  }
}

export function randomInput(rng: Rng): Uint8Array {
  const len = rng.int(4) === 0 ? rng.int(24) : 20 + 4 * rng.int(40);
  const b = rng.bytes(len);
  if (len >= 20 && rng.int(2) === 0) {
    // A valid-looking header so the attribute walk is exercised, not only the header checks.
    b[0]! &= 0x3f;
    b[2] = (len - 20) >> 8;
    b[3] = (len - 20) & 0xff;
    b.set([0x21, 0x12, 0xa4, 0x42], 4);
  }
  return b;
}

const ADDRESS_TYPES = [
  Attr.MappedAddress,
  Attr.OtherAddress,
  Attr.ResponseOrigin,
  Attr.AlternateServer,
];
const XOR_TYPES = [Attr.XorMappedAddress, Attr.XorPeerAddress, Attr.XorRelayedAddress];
const STRING_TYPES = [Attr.Username, Attr.Realm, Attr.Nonce, Attr.Software, Attr.AlternateDomain];

/** Decode and read everything; returns 'ok' | 'rejected'; throws on any other error. */
export function exercise(input: Uint8Array): 'ok' | 'rejected' {
  try {
    const msg = decodeStunMessage(input);
    for (const t of ADDRESS_TYPES) readAddress(msg, t);
    for (const t of XOR_TYPES) readXorAddresses(msg, t);
    for (const t of STRING_TYPES) readString(msg, t);
    readUint32(msg, Attr.Lifetime);
    readUint64(msg, Attr.IceControlling);
    readErrorCode(msg);
    readUnknownAttributes(msg);
    readChangeRequest(msg);
    readResponsePort(msg);
    readChannelNumber(msg);
    readRequestedTransport(msg);
    readEvenPort(msg);
    readReservationToken(msg);
    readAddressFamily(msg, Attr.RequestedAddressFamily);
    readAddressFamily(msg, Attr.AdditionalAddressFamily);
    readAddressErrorCode(msg);
    readPasswordAlgorithms(msg);
    readPasswordAlgorithm(msg);
    readUserhash(msg);
    verifyIntegrity(msg, KEY, 'sha1');
    verifyIntegrity(msg, KEY, 'sha256');
    verifyFingerprint(msg);
    msg.unknownComprehensionRequired(new Set());
    return 'ok';
  } catch (err) {
    if (err instanceof StunDecodeError) return 'rejected';
    throw err;
  }
}

export interface FuzzResult {
  inputs: number;
  ok: number;
  rejected: number;
  maxMicros: number;
}

/** Run `n` inputs (half random, half mutated seeds). Throws with the seed and input on a bug. */
export function fuzzStunDecoder(n: number, seed = 1): FuzzResult {
  const rng = new Rng(seed);
  const seeds = seedMessages();
  const result: FuzzResult = { inputs: 0, ok: 0, rejected: 0, maxMicros: 0 };
  for (let i = 0; i < n; i++) {
    const input = i & 1 ? randomInput(rng) : mutate(rng, seeds[rng.int(seeds.length)]!);
    const t0 = performance.now();
    let verdict: 'ok' | 'rejected';
    try {
      verdict = exercise(input);
    } catch (err) {
      throw new Error(
        `fuzz seed ${seed} input ${i} (${Buffer.from(input).toString('hex')}): ${String(err)}`,
        {
          cause: err,
        },
      );
    }
    const us = (performance.now() - t0) * 1000;
    if (us > result.maxMicros) result.maxMicros = us;
    result.inputs++;
    result[verdict]++;
  }
  return result;
}
