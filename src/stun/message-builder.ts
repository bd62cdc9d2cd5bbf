/**
 * STUN message encoding (RFC 8489 §5, §14). A builder writes attributes straight into one
 * growing buffer (no per-attribute allocation); `build()` returns a view of it. A builder is used
 * once: build it, send the bytes, drop it.
 *
 *   const bytes = new StunMessageBuilder(BINDING_SUCCESS, request.transactionId)
 *     .addXorAddress(Attr.XorMappedAddress, from)
 *     .addString(Attr.Software, 'natpush')
 *     .addFingerprint()
 *     .build();
 */
import { randomFillSync } from 'node:crypto';
import type { Endpoint } from '../net/udp.js';
import { Attr } from './attribute-type.js';
import {
  FINGERPRINT_XOR,
  HEADER_BYTES,
  LIMITS,
  MAGIC_COOKIE,
  TRANSACTION_ID_BYTES,
} from './constants.js';
import { crc32 } from './crc32.js';
import { hmacOver } from './integrity.js';
import { ipFamily, writeIPv4, writeIPv6 } from './ip.js';
import type { StunClass } from './message-type.js';
import { messageType } from './message-type.js';

const ID_POOL_IDS = 512;
let idPool = Buffer.allocUnsafe(0);
let idPoolOffset = 0;

/** A fresh cryptographically random 96-bit transaction id (RFC 8489 §6: uniform, random). */
export function newTransactionId(): Uint8Array {
  if (idPoolOffset + TRANSACTION_ID_BYTES > idPool.length) {
    // Refill in bulk: one getrandom call per 512 ids instead of one per request.
    idPool = Buffer.allocUnsafe(ID_POOL_IDS * TRANSACTION_ID_BYTES);
    randomFillSync(idPool);
    idPoolOffset = 0;
  }
  const id = idPool.subarray(idPoolOffset, idPoolOffset + TRANSACTION_ID_BYTES);
  idPoolOffset += TRANSACTION_ID_BYTES;
  return id;
}

const encoder = new TextEncoder();

export class StunMessageBuilder {
  #buf: Buffer;
  #len = HEADER_BYTES;
  #sealed = false;

  /**
   * @param type 14-bit message type, e.g. BINDING_REQUEST or messageType(Method.Allocate, ...)
   * @param transactionId 12 bytes; a fresh random one when omitted
   * @param capacity initial buffer size; grows as needed
   */
  constructor(type: number, transactionId: Uint8Array = newTransactionId(), capacity = 128) {
    if (!Number.isInteger(type) || type < 0 || type > 0x3fff) {
      throw new RangeError(`STUN message type must be 0..0x3fff, got ${type}`);
    }
    if (transactionId.length !== TRANSACTION_ID_BYTES) {
      throw new RangeError(`transaction id must be 12 bytes, got ${transactionId.length}`);
    }
    this.#buf = Buffer.allocUnsafe(Math.max(capacity, HEADER_BYTES + 64));
    this.#buf.writeUInt16BE(type, 0);
    this.#buf.writeUInt16BE(0, 2);
    this.#buf.writeUInt32BE(MAGIC_COOKIE, 4);
    this.#buf.set(transactionId, 8);
  }

  static of(method: number, cls: StunClass, transactionId?: Uint8Array): StunMessageBuilder {
    return new StunMessageBuilder(messageType(method, cls), transactionId);
  }

  get transactionId(): Uint8Array {
    return this.#buf.subarray(8, HEADER_BYTES);
  }

  /** Bytes written so far (header included). */
  get length(): number {
    return this.#len;
  }

  /** Raw attribute with `value` copied in, padded with zeros to 4 bytes. */
  addBytes(type: number, value: Uint8Array): this {
    const at = this.#header(type, value.length);
    this.#buf.set(value, at);
    this.#pad(at, value.length);
    return this;
  }

  /** Attribute with no value (DONT-FRAGMENT, USE-CANDIDATE). */
  addFlag(type: number): this {
    this.#header(type, 0);
    return this;
  }

  /** UTF-8 text attribute (USERNAME, REALM, NONCE, SOFTWARE, ALTERNATE-DOMAIN). */
  addString(type: number, text: string): this {
    const maxBytes = type === Attr.Username ? LIMITS.maxUsernameBytes : LIMITS.maxTextBytes;
    const bytes = Buffer.byteLength(text, 'utf8');
    if (bytes > maxBytes)
      throw new RangeError(`attribute 0x${type.toString(16)} text over ${maxBytes} bytes`);
    const at = this.#header(type, bytes);
    this.#buf.write(text, at, 'utf8');
    this.#pad(at, bytes);
    return this;
  }

  addUint32(type: number, value: number): this {
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff)
      throw new RangeError(`not a uint32: ${value}`);
    const at = this.#header(type, 4);
    this.#buf.writeUInt32BE(value, at);
    return this;
  }

  /** 64-bit value (ICE-CONTROLLING/CONTROLLED tie-breaker, RESERVATION-TOKEN as bigint). */
  addUint64(type: number, value: bigint): this {
    const at = this.#header(type, 8);
    this.#buf.writeBigUInt64BE(BigInt.asUintN(64, value), at);
    return this;
  }

  /** MAPPED-ADDRESS-style attribute: MAPPED-ADDRESS, OTHER-ADDRESS, RESPONSE-ORIGIN,
   *  ALTERNATE-SERVER (RFC 8489 §14.1). */
  addAddress(type: number, endpoint: Endpoint): this {
    return this.#address(type, endpoint, false);
  }

  /** XOR-MAPPED-ADDRESS-style attribute: XOR-MAPPED-, XOR-PEER-, XOR-RELAYED-ADDRESS
   *  (RFC 8489 §14.2, RFC 8656 §18.3, §18.5). */
  addXorAddress(type: number, endpoint: Endpoint): this {
    return this.#address(type, endpoint, true);
  }

  /** ERROR-CODE (RFC 8489 §14.8): class = hundreds, number = code mod 100, then reason. */
  addErrorCode(code: number, reason: string): this {
    if (!Number.isInteger(code) || code < 300 || code > 699)
      throw new RangeError(`error code must be 300..699, got ${code}`);
    const reasonBytes = Buffer.byteLength(reason, 'utf8');
    if (reasonBytes > LIMITS.maxTextBytes) throw new RangeError('error reason too long');
    const at = this.#header(Attr.ErrorCode, 4 + reasonBytes);
    this.#buf.writeUInt16BE(0, at);
    this.#buf[at + 2] = Math.floor(code / 100);
    this.#buf[at + 3] = code % 100;
    this.#buf.write(reason, at + 4, 'utf8');
    this.#pad(at, 4 + reasonBytes);
    return this;
  }

  /** UNKNOWN-ATTRIBUTES (RFC 8489 §14.9). */
  addUnknownAttributes(types: readonly number[]): this {
    const at = this.#header(Attr.UnknownAttributes, 2 * types.length);
    types.forEach((t, i) => this.#buf.writeUInt16BE(t, at + 2 * i));
    this.#pad(at, 2 * types.length);
    return this;
  }

  /** CHANGE-REQUEST (RFC 5780 §7.2): flags A (change IP, 0x4) and B (change port, 0x2). */
  addChangeRequest(change: { ip?: boolean; port?: boolean }): this {
    return this.addUint32(Attr.ChangeRequest, (change.ip ? 4 : 0) | (change.port ? 2 : 0));
  }

  /** RESPONSE-PORT (RFC 5780 §7.5): port, then 16 bits of padding. */
  addResponsePort(port: number): this {
    const at = this.#header(Attr.ResponsePort, 4);
    this.#buf.writeUInt16BE(port, at);
    this.#buf.writeUInt16BE(0, at + 2);
    return this;
  }

  /** CHANNEL-NUMBER (RFC 8656 §18.1): number, then RFFU zeros. */
  addChannelNumber(channel: number): this {
    if (!Number.isInteger(channel) || channel < 0 || channel > 0xffff)
      throw new RangeError(`bad channel ${channel}`);
    const at = this.#header(Attr.ChannelNumber, 4);
    this.#buf.writeUInt16BE(channel, at);
    this.#buf.writeUInt16BE(0, at + 2);
    return this;
  }

  /** REQUESTED-TRANSPORT (RFC 8656 §18.7): protocol number, then RFFU. */
  addRequestedTransport(protocol: number): this {
    const at = this.#header(Attr.RequestedTransport, 4);
    this.#buf.writeUInt32BE(0, at);
    this.#buf[at] = protocol;
    return this;
  }

  /** EVEN-PORT (RFC 8656 §18.6): one byte, R bit = reserve the next port too. */
  addEvenPort(reserveNext: boolean): this {
    const at = this.#header(Attr.EvenPort, 1);
    this.#buf[at] = reserveNext ? 0x80 : 0;
    this.#pad(at, 1);
    return this;
  }

  /** REQUESTED-ADDRESS-FAMILY / ADDITIONAL-ADDRESS-FAMILY (RFC 8656 §18.8, §18.11). */
  addAddressFamily(type: number, family: 'IPv4' | 'IPv6'): this {
    const at = this.#header(type, 4);
    this.#buf.writeUInt32BE(0, at);
    this.#buf[at] = family === 'IPv4' ? 1 : 2;
    return this;
  }

  /** ADDRESS-ERROR-CODE (RFC 8656 §18.12). */
  addAddressErrorCode(family: 'IPv4' | 'IPv6', code: number, reason: string): this {
    const reasonBytes = Buffer.byteLength(reason, 'utf8');
    if (reasonBytes > LIMITS.maxTextBytes) throw new RangeError('error reason too long');
    const at = this.#header(Attr.AddressErrorCode, 4 + reasonBytes);
    this.#buf[at] = family === 'IPv4' ? 1 : 2;
    this.#buf[at + 1] = 0;
    this.#buf[at + 2] = Math.floor(code / 100);
    this.#buf[at + 3] = code % 100;
    this.#buf.write(reason, at + 4, 'utf8');
    this.#pad(at, 4 + reasonBytes);
    return this;
  }

  /** PASSWORD-ALGORITHMS (RFC 8489 §14.11): list of {algorithm, parameters}. */
  addPasswordAlgorithms(algs: readonly { algorithm: number; parameters?: Uint8Array }[]): this {
    let len = 0;
    for (const a of algs) len += 4 + ((((a.parameters?.length ?? 0) + 3) & ~3) >>> 0);
    const at = this.#header(Attr.PasswordAlgorithms, len);
    let o = at;
    for (const a of algs) {
      const p = a.parameters ?? new Uint8Array(0);
      this.#buf.writeUInt16BE(a.algorithm, o);
      this.#buf.writeUInt16BE(p.length, o + 2);
      this.#buf.set(p, o + 4);
      this.#pad(o + 4, p.length);
      o += 4 + ((p.length + 3) & ~3);
    }
    return this;
  }

  /** PASSWORD-ALGORITHM (RFC 8489 §14.12). */
  addPasswordAlgorithm(algorithm: number, parameters: Uint8Array = new Uint8Array(0)): this {
    const at = this.#header(Attr.PasswordAlgorithm, 4 + parameters.length);
    this.#buf.writeUInt16BE(algorithm, at);
    this.#buf.writeUInt16BE(parameters.length, at + 2);
    this.#buf.set(parameters, at + 4);
    this.#pad(at, 4 + parameters.length);
    return this;
  }

  /** MESSAGE-INTEGRITY: HMAC-SHA1 with `key` over everything so far (RFC 8489 §14.5). */
  addIntegrity(key: Uint8Array): this {
    return this.#integrity(Attr.MessageIntegrity, 'sha1', 20, key);
  }

  /** MESSAGE-INTEGRITY-SHA256 (RFC 8489 §14.6), full 32 bytes. */
  addIntegritySha256(key: Uint8Array): this {
    return this.#integrity(Attr.MessageIntegritySha256, 'sha256', 32, key);
  }

  /** FINGERPRINT (RFC 8489 §14.7); must be the last attribute. */
  addFingerprint(): this {
    const at = this.#header(Attr.Fingerprint, 4);
    this.#buf.writeUInt16BE(this.#len - HEADER_BYTES, 2);
    this.#buf.writeUInt32BE((crc32(this.#buf, 0, at - 4) ^ FINGERPRINT_XOR) >>> 0, at);
    this.#sealed = true;
    return this;
  }

  /** The encoded message: a view of the builder's buffer. */
  build(): Uint8Array {
    this.#buf.writeUInt16BE(this.#len - HEADER_BYTES, 2);
    return this.#buf.subarray(0, this.#len);
  }

  #integrity(type: number, alg: 'sha1' | 'sha256', size: number, key: Uint8Array): this {
    const start = this.#len;
    const mac = hmacOver(alg, key, this.#buf, start, start + 4 + size - HEADER_BYTES);
    const at = this.#header(type, size);
    this.#buf.set(mac.subarray(0, size), at);
    return this;
  }

  #address(type: number, e: Endpoint, xor: boolean): this {
    // rinfo from node:dgram carries the family: skip re-detecting it per response (hot path).
    const fam = e.family === 'IPv4' ? 4 : e.family === 'IPv6' ? 6 : ipFamily(e.address);
    if (fam === 0) throw new TypeError(`not an IP address: ${e.address}`);
    if (!Number.isInteger(e.port) || e.port < 0 || e.port > 0xffff)
      throw new RangeError(`bad port ${e.port}`);
    const at = this.#header(type, fam === 4 ? 8 : 20);
    const b = this.#buf;
    b[at] = 0;
    b[at + 1] = fam === 4 ? 1 : 2;
    b.writeUInt16BE(xor ? e.port ^ (MAGIC_COOKIE >>> 16) : e.port, at + 2);
    if (fam === 4) {
      writeIPv4(e.address, b, at + 4);
      if (xor) b.writeUInt32BE((b.readUInt32BE(at + 4) ^ MAGIC_COOKIE) >>> 0, at + 4);
    } else {
      writeIPv6(e.address, b, at + 4);
      // RFC 8489 §14.2: IPv6 is XORed with the magic cookie followed by the transaction id.
      if (xor) for (let i = 0; i < 16; i++) b[at + 4 + i]! ^= b[4 + i]!;
    }
    return this;
  }

  /** Write an attribute header, reserve `len` bytes plus padding; returns the value offset. */
  #header(type: number, len: number): number {
    if (this.#sealed) throw new TypeError('no attribute may follow FINGERPRINT');
    if (!Number.isInteger(type) || type < 0 || type > 0xffff)
      throw new RangeError(`bad attribute type ${type}`);
    if (len > 0xffff) throw new RangeError(`attribute value over 65535 bytes`);
    const padded = (len + 3) & ~3;
    const need = this.#len + 4 + padded;
    if (need - HEADER_BYTES > 0xffff) throw new RangeError('STUN message over 65535 body bytes');
    if (need > this.#buf.length) {
      const bigger = Buffer.allocUnsafe(Math.max(need, this.#buf.length * 2));
      this.#buf.copy(bigger, 0, 0, this.#len);
      this.#buf = bigger;
    }
    const at = this.#len;
    this.#buf.writeUInt16BE(type, at);
    this.#buf.writeUInt16BE(len, at + 2);
    // Keep the length field current so integrity/fingerprint see a consistent header.
    this.#len = need;
    return at + 4;
  }

  #pad(valueAt: number, len: number): void {
    for (let i = len; (i & 3) !== 0; i++) this.#buf[valueAt + i] = 0;
  }
}

/** Encode text once when the same string goes into many messages (SOFTWARE on a server). */
export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}
