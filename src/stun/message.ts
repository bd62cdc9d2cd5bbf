/**
 * STUN message decoding (RFC 8489 §5, §6.3, §14). Zero-copy: a decoded `StunMessage` keeps the
 * input bytes and records where each attribute's value starts; values are returned as views.
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |0 0|     STUN Message Type     |         Message Length        |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                         Magic Cookie                          |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                     Transaction ID (96 bits)                  |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |   Type (attr)                 |            Length             |  then Value,
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+  padded to 4 bytes
 */
import { Attr, isComprehensionRequired } from './attribute-type.js';
import { HEADER_BYTES, LIMITS, MAGIC_COOKIE } from './constants.js';
import { StunDecodeError } from './errors.js';
import type { StunClass } from './message-type.js';
import { classOf, methodOf } from './message-type.js';

/**
 * Cheap test for "this datagram is STUN" used to demultiplex a shared socket (RFC 7983: first
 * byte 0–3) plus the magic cookie. Does not validate the rest.
 */
export function isStunMessage(b: Uint8Array): boolean {
  return (
    b.length >= HEADER_BYTES &&
    (b[0]! & 0xc0) === 0 &&
    b[4] === 0x21 &&
    b[5] === 0x12 &&
    b[6] === 0xa4 &&
    b[7] === 0x42
  );
}

/**
 * For stream transports (TCP, TLS): the total length of the STUN message at the start of `b`, or
 * undefined when fewer than 20 bytes have arrived (RFC 8489 §6.2.2 — the length field frames it).
 */
export function stunMessageLength(b: Uint8Array): number | undefined {
  if (b.length < 4) return undefined;
  return HEADER_BYTES + ((b[2]! << 8) | b[3]!);
}

export class StunMessage {
  /** The whole message (a view of the decoded bytes; not copied). */
  readonly raw: Uint8Array;
  /** 14-bit message type. */
  readonly type: number;
  readonly method: number;
  readonly cls: StunClass;
  /** Byte offsets into `raw` of each kept attribute's header, in order. */
  readonly #offsets: number[];
  /** Offset of MESSAGE-INTEGRITY / -SHA256 / FINGERPRINT headers, -1 when absent. */
  readonly integrityOffset: number;
  readonly integritySha256Offset: number;
  readonly fingerprintOffset: number;

  /** @internal use decodeStunMessage() */
  constructor(
    raw: Uint8Array,
    offsets: number[],
    integrityOffset: number,
    integritySha256Offset: number,
    fingerprintOffset: number,
  ) {
    this.raw = raw;
    this.type = (raw[0]! << 8) | raw[1]!;
    this.method = methodOf(this.type);
    this.cls = classOf(this.type);
    this.#offsets = offsets;
    this.integrityOffset = integrityOffset;
    this.integritySha256Offset = integritySha256Offset;
    this.fingerprintOffset = fingerprintOffset;
  }

  /** The 96-bit transaction id (a view). */
  get transactionId(): Uint8Array {
    return this.raw.subarray(8, HEADER_BYTES);
  }

  /** Number of attributes kept (those after MESSAGE-INTEGRITY other than MI-SHA256 and
   *  FINGERPRINT are dropped, RFC 8489 §14.5). */
  get attributeCount(): number {
    return this.#offsets.length;
  }

  /** Types of the kept attributes, in order. */
  attributeTypes(): number[] {
    return this.#offsets.map((o) => (this.raw[o]! << 8) | this.raw[o + 1]!);
  }

  has(type: number): boolean {
    return this.#find(type) >= 0;
  }

  /** Value of the first attribute of `type` (a view, without padding), or undefined. */
  get(type: number): Uint8Array | undefined {
    const o = this.#find(type);
    if (o < 0) return undefined;
    const len = (this.raw[o + 2]! << 8) | this.raw[o + 3]!;
    return this.raw.subarray(o + 4, o + 4 + len);
  }

  /** Values of every attribute of `type`, in order (e.g. several XOR-PEER-ADDRESS). */
  getAll(type: number): Uint8Array[] {
    const out: Uint8Array[] = [];
    const raw = this.raw;
    for (const o of this.#offsets) {
      if (((raw[o]! << 8) | raw[o + 1]!) === type) {
        out.push(raw.subarray(o + 4, o + 4 + ((raw[o + 2]! << 8) | raw[o + 3]!)));
      }
    }
    return out;
  }

  /**
   * Comprehension-required attribute types (RFC 8489 §14) present here that the caller does not
   * know; a server answers 420 with these in UNKNOWN-ATTRIBUTES (§6.3.1.1), a client discards
   * the response (§6.3.3).
   */
  unknownComprehensionRequired(known: ReadonlySet<number>): number[] {
    const out: number[] = [];
    for (const t of this.attributeTypes()) {
      if (isComprehensionRequired(t) && !known.has(t) && !out.includes(t)) out.push(t);
    }
    return out;
  }

  #find(type: number): number {
    const raw = this.raw;
    const offs = this.#offsets;
    for (let i = 0; i < offs.length; i++) {
      const o = offs[i]!;
      if (((raw[o]! << 8) | raw[o + 1]!) === type) return o;
    }
    return -1;
  }
}

export interface DecodeOptions {
  /** Attributes accepted per message; default LIMITS.maxAttributes. */
  maxAttributes?: number;
}

/**
 * Decode one STUN message occupying exactly `b` (a UDP datagram, or a frame cut by
 * `stunMessageLength`). Throws StunDecodeError for anything malformed; never throws otherwise and
 * runs in time linear in `b.length`.
 */
export function decodeStunMessage(b: Uint8Array, options: DecodeOptions = {}): StunMessage {
  const maxAttributes = options.maxAttributes ?? LIMITS.maxAttributes;
  if (b.length < HEADER_BYTES)
    throw new StunDecodeError(`message shorter than 20 bytes (${b.length})`);
  if (b.length > LIMITS.maxMessageBytes)
    throw new StunDecodeError(`message longer than ${LIMITS.maxMessageBytes} bytes`);
  if ((b[0]! & 0xc0) !== 0)
    throw new StunDecodeError('first two bits of a STUN message must be zero');
  const cookie = ((b[4]! << 24) | (b[5]! << 16) | (b[6]! << 8) | b[7]!) >>> 0;
  if (cookie !== MAGIC_COOKIE) throw new StunDecodeError('magic cookie mismatch');
  const bodyLength = (b[2]! << 8) | b[3]!;
  if ((bodyLength & 3) !== 0)
    throw new StunDecodeError(`message length ${bodyLength} not a multiple of 4`);
  if (bodyLength + HEADER_BYTES !== b.length) {
    throw new StunDecodeError(
      `message length field ${bodyLength} does not match ${b.length - HEADER_BYTES} body bytes`,
    );
  }
  return walkAttributes(b, maxAttributes);
}

/** RFC 8489 §14: TLV walk with the ordering rules of §14.5 (MESSAGE-INTEGRITY) and §14.7. */
function walkAttributes(b: Uint8Array, maxAttributes: number): StunMessage {
  const offsets: number[] = [];
  let mi = -1;
  let mi256 = -1;
  let fp = -1;
  let seen = 0;
  for (let o = HEADER_BYTES; o < b.length;) {
    if (o + 4 > b.length) throw new StunDecodeError(`truncated attribute header at offset ${o}`);
    if (++seen > maxAttributes) throw new StunDecodeError(`more than ${maxAttributes} attributes`);
    const type = (b[o]! << 8) | b[o + 1]!;
    const len = (b[o + 2]! << 8) | b[o + 3]!;
    const next = o + 4 + ((len + 3) & ~3);
    if (next > b.length)
      throw new StunDecodeError(`attribute 0x${type.toString(16)} runs past the end`);
    if (fp >= 0)
      throw new StunDecodeError('attribute after FINGERPRINT (RFC 8489 §14.7: it must be last)');
    if (type === Attr.Fingerprint) {
      if (len !== 4) throw new StunDecodeError('FINGERPRINT must be 4 bytes');
      fp = o;
      offsets.push(o);
    } else if (type === Attr.MessageIntegrity && mi < 0 && mi256 < 0) {
      if (len !== 20) throw new StunDecodeError('MESSAGE-INTEGRITY must be 20 bytes');
      mi = o;
      offsets.push(o);
    } else if (type === Attr.MessageIntegritySha256 && mi256 < 0) {
      // RFC 8489 §14.6: 16 to 32 bytes, a multiple of 4.
      if (len < 16 || len > 32 || (len & 3) !== 0)
        throw new StunDecodeError('bad MESSAGE-INTEGRITY-SHA256 length');
      mi256 = o;
      offsets.push(o);
    } else if (mi < 0 && mi256 < 0) {
      offsets.push(o);
    }
    // else: RFC 8489 §14.5 — ignore other attributes after MESSAGE-INTEGRITY(-SHA256).
    o = next;
  }
  return new StunMessage(b, offsets, mi, mi256, fp);
}
