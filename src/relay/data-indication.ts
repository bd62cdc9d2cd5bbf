/**
 * The Data indication (RFC 8656 §11.4) the relay sends a client for a peer's datagram when no
 * channel is bound to that peer: the per-packet peer → client path without ChannelData, so it is
 * written in one buffer in one pass rather than through StunMessageBuilder.
 *
 *    0                   1                   2                   3
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |0 0|   Data indication 0x0017  |   Message Length (attributes) |
 *   |                    Magic Cookie 0x2112A442                    |
 *   |              Transaction ID (96 bits, random, §6)             |
 *   | XOR-PEER-ADDRESS 0x0012       |   Length 8 (IPv4) / 20 (IPv6) |
 *   |  0x00 | Family|  X-Port       |  X-Address (4 or 16 bytes) ...
 *   | DATA 0x0013                   |   Length (payload bytes)      |
 *   |  payload ..., zero-padded to 4 bytes                          |
 *
 * A relayed allocation mostly hears from the same few peers, and node:dgram hands each datagram
 * a new address string: `PeerAddressCache` keeps the last peer's encoded address, so a datagram
 * from the same peer as the one before costs a string comparison instead of parsing the address
 * (IPv6 text parsing allocates). RFC 8489 §14.2: an IPv6 X-Address is XORed with the magic
 * cookie and the transaction id, so for IPv6 the cache holds the plain address and the XOR is
 * done per message; an IPv4 one depends on the cookie only and is cached XORed.
 */
import type { Endpoint } from '../net/index.js';
import { Attr, Method, messageType, newTransactionId, StunClass } from '../stun/index.js';
import { HEADER_BYTES, MAGIC_COOKIE } from '../stun/constants.js';
import { writeIPv4, writeIPv6 } from '../stun/ip.js';

const DATA_INDICATION = messageType(Method.Data, StunClass.Indication);
const COOKIE_HIGH = MAGIC_COOKIE >>> 16;

/** The last peer address encoded, per allocation (see the file comment). */
export class PeerAddressCache {
  address = '';
  port = -1;
  /** Family byte (1 IPv4, 2 IPv6) and the X-Address value to copy (IPv4: already XORed). */
  family = 0;
  readonly bytes = new Uint8Array(16);

  /** Make the cache hold `peer`; throws TypeError when its address is not an IP literal. */
  hold(peer: Endpoint): void {
    if (peer.address === this.address && peer.port === this.port) return;
    // Forget the old peer first: a parse that throws half-way must not leave its bytes under it.
    this.address = '';
    this.port = -1;
    const v4 = peer.family === 'IPv4' || (peer.family === undefined && !peer.address.includes(':'));
    if (v4) {
      writeIPv4(peer.address, this.bytes, 0);
      for (let i = 0; i < 4; i++) this.bytes[i]! ^= (MAGIC_COOKIE >>> (24 - 8 * i)) & 0xff;
    } else {
      writeIPv6(peer.address, this.bytes, 0);
    }
    this.family = v4 ? 1 : 2;
    this.address = peer.address;
    this.port = peer.port;
  }
}

/** Bytes of a Data indication carrying `payloadBytes` from a peer of this family (1 or 2). */
function size(family: number, payloadBytes: number): number {
  return HEADER_BYTES + 4 + (family === 1 ? 8 : 20) + 4 + ((payloadBytes + 3) & ~3);
}

/**
 * A Data indication with XOR-PEER-ADDRESS `peer` and DATA `data`, a fresh random transaction id.
 * `cache`: the allocation's (kept across calls); a throwaway one when absent.
 */
export function encodeDataIndication(
  peer: Endpoint,
  data: Uint8Array,
  cache: PeerAddressCache = new PeerAddressCache(),
): Uint8Array {
  if (!Number.isInteger(peer.port) || peer.port < 0 || peer.port > 0xffff) {
    throw new RangeError(`bad port ${peer.port}`);
  }
  if (data.length > 0xffff - 40) throw new RangeError('Data indication payload too large');
  cache.hold(peer);
  const fam = cache.family;
  const out = Buffer.allocUnsafe(size(fam, data.length));
  // Header (RFC 8489 §5).
  out.writeUInt16BE(DATA_INDICATION, 0);
  out.writeUInt16BE(out.length - HEADER_BYTES, 2);
  out.writeUInt32BE(MAGIC_COOKIE, 4);
  out.set(newTransactionId(), 8);
  // XOR-PEER-ADDRESS (RFC 8656 §14.3, RFC 8489 §14.2).
  let o = HEADER_BYTES;
  const addrBytes = fam === 1 ? 4 : 16;
  out.writeUInt16BE(Attr.XorPeerAddress, o);
  out.writeUInt16BE(4 + addrBytes, o + 2);
  out[o + 4] = 0;
  out[o + 5] = fam;
  out.writeUInt16BE(peer.port ^ COOKIE_HIGH, o + 6);
  const b = cache.bytes;
  if (fam === 1) {
    out[o + 8] = b[0]!;
    out[o + 9] = b[1]!;
    out[o + 10] = b[2]!;
    out[o + 11] = b[3]!;
  } else {
    // Cookie and transaction id are bytes 4–19 of the header just written.
    for (let i = 0; i < 16; i++) out[o + 8 + i] = b[i]! ^ out[4 + i]!;
  }
  o += 8 + addrBytes;
  // DATA (RFC 8656 §14.4), zero-padded (RFC 8489 §14: padding bytes should be zero here; the
  // builder writes zeros too).
  out.writeUInt16BE(Attr.Data, o);
  out.writeUInt16BE(data.length, o + 2);
  out.set(data, o + 4);
  for (let i = o + 4 + data.length; i < out.length; i++) out[i] = 0;
  return out;
}
