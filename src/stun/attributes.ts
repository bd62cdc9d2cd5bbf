/**
 * Typed readers for attribute values (RFC 8489 §14, RFC 5780 §7, RFC 8656 §18). Each returns
 * undefined when the attribute is absent and throws StunDecodeError when it is present but
 * malformed, so a caller handles exactly one error type for hostile input.
 */
import type { Endpoint } from '../net/udp.js';
import { Attr } from './attribute-type.js';
import { LIMITS, MAGIC_COOKIE } from './constants.js';
import { StunDecodeError } from './errors.js';
import { formatIPv4, formatIPv6 } from './ip.js';
import type { StunMessage } from './message.js';

const decoder = new TextDecoder('utf-8', { fatal: true });

/** Decode an address attribute value; `xorKey` is the message header (bytes 4..20) for XOR. */
export function decodeAddress(
  v: Uint8Array,
  header: Uint8Array | undefined,
  what: number,
): Endpoint {
  if (v.length < 4) throw new StunDecodeError(`${hex(what)}: address shorter than 4 bytes`);
  const family = v[1];
  let port = (v[2]! << 8) | v[3]!;
  if (header) port ^= MAGIC_COOKIE >>> 16;
  if (family === 1) {
    if (v.length !== 8) throw new StunDecodeError(`${hex(what)}: IPv4 address must be 8 bytes`);
    if (!header) return { address: formatIPv4(v, 4), port, family: 'IPv4' };
    const x = new Uint8Array(4);
    for (let i = 0; i < 4; i++) x[i] = v[4 + i]! ^ header[4 + i]!;
    return { address: formatIPv4(x, 0), port, family: 'IPv4' };
  }
  if (family === 2) {
    if (v.length !== 20) throw new StunDecodeError(`${hex(what)}: IPv6 address must be 20 bytes`);
    if (!header) return { address: formatIPv6(v, 4), port, family: 'IPv6' };
    const x = new Uint8Array(16);
    for (let i = 0; i < 16; i++) x[i] = v[4 + i]! ^ header[4 + i]!;
    return { address: formatIPv6(x, 0), port, family: 'IPv6' };
  }
  throw new StunDecodeError(`${hex(what)}: unknown address family ${family}`);
}

/** MAPPED-ADDRESS, OTHER-ADDRESS, RESPONSE-ORIGIN, ALTERNATE-SERVER. */
export function readAddress(msg: StunMessage, type: number): Endpoint | undefined {
  const v = msg.get(type);
  return v && decodeAddress(v, undefined, type);
}

/** XOR-MAPPED-ADDRESS, XOR-PEER-ADDRESS, XOR-RELAYED-ADDRESS (first occurrence). */
export function readXorAddress(msg: StunMessage, type: number): Endpoint | undefined {
  const v = msg.get(type);
  return v && decodeAddress(v, msg.raw, type);
}

/** Every occurrence, e.g. the XOR-PEER-ADDRESSes of a CreatePermission (RFC 8656 §9.1). */
export function readXorAddresses(msg: StunMessage, type: number): Endpoint[] {
  return msg.getAll(type).map((v) => decodeAddress(v, msg.raw, type));
}

/** The reflexive address of a Binding response: XOR-MAPPED-ADDRESS, else MAPPED-ADDRESS
 *  (RFC 8489 §14.1 backwards compatibility). */
export function readMappedAddress(msg: StunMessage): Endpoint | undefined {
  return readXorAddress(msg, Attr.XorMappedAddress) ?? readAddress(msg, Attr.MappedAddress);
}

/** USERNAME, REALM, NONCE, SOFTWARE, ALTERNATE-DOMAIN as UTF-8, with the RFC length bounds. */
export function readString(msg: StunMessage, type: number): string | undefined {
  const v = msg.get(type);
  if (!v) return undefined;
  const max = type === Attr.Username ? LIMITS.maxUsernameBytes : LIMITS.maxTextBytes;
  if (v.length > max) throw new StunDecodeError(`${hex(type)}: over ${max} bytes`);
  return utf8(v, type);
}

export function readUint32(msg: StunMessage, type: number): number | undefined {
  const v = msg.get(type);
  if (!v) return undefined;
  if (v.length !== 4) throw new StunDecodeError(`${hex(type)}: must be 4 bytes`);
  return ((v[0]! << 24) | (v[1]! << 16) | (v[2]! << 8) | v[3]!) >>> 0;
}

export function readUint64(msg: StunMessage, type: number): bigint | undefined {
  const v = msg.get(type);
  if (!v) return undefined;
  if (v.length !== 8) throw new StunDecodeError(`${hex(type)}: must be 8 bytes`);
  return Buffer.from(v.buffer, v.byteOffset, 8).readBigUInt64BE(0);
}

/** LIFETIME in seconds (RFC 8656 §18.2). */
export function readLifetime(msg: StunMessage): number | undefined {
  return readUint32(msg, Attr.Lifetime);
}

export interface ErrorCodeValue {
  code: number;
  reason: string;
}

/** ERROR-CODE (RFC 8489 §14.8): class 3..6, number 0..99. */
export function readErrorCode(msg: StunMessage): ErrorCodeValue | undefined {
  const v = msg.get(Attr.ErrorCode);
  if (!v) return undefined;
  if (v.length < 4 || v.length > 4 + LIMITS.maxTextBytes)
    throw new StunDecodeError('ERROR-CODE: bad length');
  const cls = v[2]! & 0x07;
  const num = v[3]!;
  if (cls < 3 || cls > 6 || num > 99)
    throw new StunDecodeError(`ERROR-CODE: bad code ${cls}${num}`);
  return { code: cls * 100 + num, reason: utf8(v.subarray(4), Attr.ErrorCode) };
}

/** UNKNOWN-ATTRIBUTES (RFC 8489 §14.9). */
export function readUnknownAttributes(msg: StunMessage): number[] | undefined {
  const v = msg.get(Attr.UnknownAttributes);
  if (!v) return undefined;
  if ((v.length & 1) !== 0 || v.length / 2 > LIMITS.maxUnknownAttributes) {
    throw new StunDecodeError('UNKNOWN-ATTRIBUTES: bad length');
  }
  const out: number[] = [];
  for (let i = 0; i < v.length; i += 2) out.push((v[i]! << 8) | v[i + 1]!);
  return out;
}

/** CHANGE-REQUEST (RFC 5780 §7.2). */
export function readChangeRequest(msg: StunMessage): { ip: boolean; port: boolean } | undefined {
  const flags = readUint32(msg, Attr.ChangeRequest);
  if (flags === undefined) return undefined;
  return { ip: (flags & 4) !== 0, port: (flags & 2) !== 0 };
}

/** RESPONSE-PORT (RFC 5780 §7.5). */
export function readResponsePort(msg: StunMessage): number | undefined {
  const v = msg.get(Attr.ResponsePort);
  if (!v) return undefined;
  if (v.length !== 4) throw new StunDecodeError('RESPONSE-PORT: must be 4 bytes');
  return (v[0]! << 8) | v[1]!;
}

/** CHANNEL-NUMBER (RFC 8656 §18.1). Range checks (0x4000–0x4FFF) are the relay's policy. */
export function readChannelNumber(msg: StunMessage): number | undefined {
  const v = msg.get(Attr.ChannelNumber);
  if (!v) return undefined;
  if (v.length !== 4) throw new StunDecodeError('CHANNEL-NUMBER: must be 4 bytes');
  return (v[0]! << 8) | v[1]!;
}

/** REQUESTED-TRANSPORT protocol number (RFC 8656 §18.7). */
export function readRequestedTransport(msg: StunMessage): number | undefined {
  const v = msg.get(Attr.RequestedTransport);
  if (!v) return undefined;
  if (v.length !== 4) throw new StunDecodeError('REQUESTED-TRANSPORT: must be 4 bytes');
  return v[0]!;
}

/** EVEN-PORT (RFC 8656 §18.6): whether the R bit asks to reserve the next port. */
export function readEvenPort(msg: StunMessage): { reserveNext: boolean } | undefined {
  const v = msg.get(Attr.EvenPort);
  if (!v) return undefined;
  if (v.length !== 1) throw new StunDecodeError('EVEN-PORT: must be 1 byte');
  return { reserveNext: (v[0]! & 0x80) !== 0 };
}

/** RESERVATION-TOKEN (RFC 8656 §18.9): 8 opaque bytes (a view). */
export function readReservationToken(msg: StunMessage): Uint8Array | undefined {
  const v = msg.get(Attr.ReservationToken);
  if (!v) return undefined;
  if (v.length !== 8) throw new StunDecodeError('RESERVATION-TOKEN: must be 8 bytes');
  return v;
}

/** REQUESTED-ADDRESS-FAMILY or ADDITIONAL-ADDRESS-FAMILY (RFC 8656 §18.8, §18.11). */
export function readAddressFamily(msg: StunMessage, type: number): 'IPv4' | 'IPv6' | undefined {
  const v = msg.get(type);
  if (!v) return undefined;
  if (v.length !== 4) throw new StunDecodeError(`${hex(type)}: must be 4 bytes`);
  if (v[0] === 1) return 'IPv4';
  if (v[0] === 2) return 'IPv6';
  throw new StunDecodeError(`${hex(type)}: unknown family ${v[0]}`);
}

/** ADDRESS-ERROR-CODE (RFC 8656 §18.12). */
export function readAddressErrorCode(
  msg: StunMessage,
): { family: 'IPv4' | 'IPv6'; code: number; reason: string } | undefined {
  const v = msg.get(Attr.AddressErrorCode);
  if (!v) return undefined;
  if (v.length < 4 || v.length > 4 + LIMITS.maxTextBytes)
    throw new StunDecodeError('ADDRESS-ERROR-CODE: bad length');
  const family = v[0] === 1 ? 'IPv4' : v[0] === 2 ? 'IPv6' : undefined;
  const cls = v[2]! & 0x07;
  const num = v[3]!;
  if (!family || cls < 3 || cls > 6 || num > 99)
    throw new StunDecodeError('ADDRESS-ERROR-CODE: bad value');
  return { family, code: cls * 100 + num, reason: utf8(v.subarray(4), Attr.AddressErrorCode) };
}

export interface PasswordAlgorithmValue {
  algorithm: number;
  parameters: Uint8Array;
}

/** PASSWORD-ALGORITHMS (RFC 8489 §14.11). */
export function readPasswordAlgorithms(msg: StunMessage): PasswordAlgorithmValue[] | undefined {
  const v = msg.get(Attr.PasswordAlgorithms);
  if (!v) return undefined;
  const out: PasswordAlgorithmValue[] = [];
  for (let o = 0; o < v.length;) {
    if (o + 4 > v.length) throw new StunDecodeError('PASSWORD-ALGORITHMS: truncated');
    if (out.length >= LIMITS.maxPasswordAlgorithms)
      throw new StunDecodeError('PASSWORD-ALGORITHMS: too many');
    const len = (v[o + 2]! << 8) | v[o + 3]!;
    const next = o + 4 + ((len + 3) & ~3);
    if (o + 4 + len > v.length)
      throw new StunDecodeError('PASSWORD-ALGORITHMS: truncated parameters');
    out.push({ algorithm: (v[o]! << 8) | v[o + 1]!, parameters: v.subarray(o + 4, o + 4 + len) });
    o = Math.min(next, v.length);
  }
  return out;
}

/** PASSWORD-ALGORITHM (RFC 8489 §14.12). */
export function readPasswordAlgorithm(msg: StunMessage): PasswordAlgorithmValue | undefined {
  const v = msg.get(Attr.PasswordAlgorithm);
  if (!v) return undefined;
  if (v.length < 4) throw new StunDecodeError('PASSWORD-ALGORITHM: truncated');
  const len = (v[2]! << 8) | v[3]!;
  if (4 + len !== v.length) throw new StunDecodeError('PASSWORD-ALGORITHM: bad parameter length');
  return { algorithm: (v[0]! << 8) | v[1]!, parameters: v.subarray(4) };
}

/** USERHASH (RFC 8489 §14.4): 32 bytes (a view). */
export function readUserhash(msg: StunMessage): Uint8Array | undefined {
  const v = msg.get(Attr.Userhash);
  if (!v) return undefined;
  if (v.length !== 32) throw new StunDecodeError('USERHASH: must be 32 bytes');
  return v;
}

function utf8(v: Uint8Array, type: number): string {
  try {
    return decoder.decode(v);
  } catch {
    throw new StunDecodeError(`${hex(type)}: not valid UTF-8`);
  }
}

function hex(type: number): string {
  return `attribute 0x${type.toString(16).padStart(4, '0')}`;
}
