/**
 * PCP (RFC 6887) MAP messages, pure. Addresses are always 16 bytes (IPv4 as ::ffff:a.b.c.d,
 * §5).
 *
 * Request header (§7.1), 24 bytes:
 *   | ver=2 | R=0,opcode(7) | reserved(2) | requested lifetime s(4) | client IP(16) |
 * Response header (§7.2), 24 bytes:
 *   | ver=2 | R=1,opcode(7) | reserved(1) | result(1) | lifetime s(4) | epoch s(4) | reserved(12) |
 * MAP payload (§11.1), 36 bytes, the same in both directions:
 *   | nonce(12) | protocol(1) | reserved(3) | internal port(2) | (suggested|assigned)
 *   external port(2) | (suggested|assigned) external IP(16) |
 * A NAT-PMP-only server answers a version-2 request with a version-0 packet carrying result 1
 * (RFC 6886 §3.5, RFC 6887 §9): recognised here as UNSUPPORTED_VERSION, so the caller falls back
 * to NAT-PMP. Options (§7.3) are neither sent nor needed; options in a reply are skipped.
 */
import { formatIPv4, formatIPv6, writeIPv4, writeIPv6 } from '../../stun/ip.js';
import { PORTMAP_ERR, PortmapError } from './errors.js';
import type { MapProtocol } from './natpmp-codec.js';

export const PCP_VERSION = 2;
export const PCP_OP_ANNOUNCE = 0;
export const PCP_OP_MAP = 1;
const HEADER_BYTES = 24;
const MAP_BYTES = 36;
/** §7: a PCP message is at most 1100 bytes. */
export const PCP_MAX_BYTES = 1100;
/** IANA protocol numbers (§11.1). */
const PROTO = { udp: 17, tcp: 6 } as const;

/** §7.4 result codes, by name for messages. */
export const PCP_RESULT_NAMES: Record<number, string> = {
  0: 'SUCCESS',
  1: 'UNSUPP_VERSION',
  2: 'NOT_AUTHORIZED',
  3: 'MALFORMED_REQUEST',
  4: 'UNSUPP_OPCODE',
  5: 'UNSUPP_OPTION',
  6: 'MALFORMED_OPTION',
  7: 'NETWORK_FAILURE',
  8: 'NO_RESOURCES',
  9: 'UNSUPP_PROTOCOL',
  10: 'USER_EX_QUOTA',
  11: 'CANNOT_PROVIDE_EXTERNAL',
  12: 'ADDRESS_MISMATCH',
  13: 'EXCESSIVE_REMOTE_PEERS',
};

export interface PcpMapRequest {
  nonce: Uint8Array;
  protocol: MapProtocol;
  internalPort: number;
  suggestedExternalPort: number;
  /** Default :: / 0.0.0.0 ("no preference"). */
  suggestedExternalAddress?: string;
  /** 0 deletes the mapping (§15). */
  lifetimeSec: number;
  /** Our own address as the server sees it (§8.1: must equal the packet's source address). */
  clientAddress: string;
}

function writeAddress(address: string, out: Uint8Array, offset: number): void {
  if (address.includes(':')) {
    writeIPv6(address, out, offset);
    return;
  }
  out[offset + 10] = 0xff;
  out[offset + 11] = 0xff;
  writeIPv4(address, out, offset + 12);
}

function readAddress(b: Uint8Array, offset: number): string {
  const mapped = b.subarray(offset, offset + 12).every((x, i) => x === (i < 10 ? 0 : 0xff));
  return mapped ? formatIPv4(b, offset + 12) : formatIPv6(b, offset);
}

export function encodePcpMapRequest(r: PcpMapRequest): Uint8Array {
  if (r.nonce.length !== 12) throw new RangeError('PCP nonce must be 12 bytes');
  const b = new Uint8Array(HEADER_BYTES + MAP_BYTES);
  const v = new DataView(b.buffer);
  b[0] = PCP_VERSION;
  b[1] = PCP_OP_MAP;
  v.setUint32(4, r.lifetimeSec);
  writeAddress(r.clientAddress, b, 8);
  b.set(r.nonce, 24);
  b[36] = PROTO[r.protocol];
  v.setUint16(40, r.internalPort);
  v.setUint16(42, r.suggestedExternalPort);
  writeAddress(r.suggestedExternalAddress ?? '0.0.0.0', b, 44);
  return b;
}

/**
 * ANNOUNCE (§14.1), header only: the harmless probe. A PCP server answers it (result 0), a
 * NAT-PMP server answers version 0 / result 1, nobody answers: no server.
 */
export function encodePcpAnnounceRequest(clientAddress: string): Uint8Array {
  const b = new Uint8Array(HEADER_BYTES);
  b[0] = PCP_VERSION;
  b[1] = PCP_OP_ANNOUNCE;
  writeAddress(clientAddress, b, 8);
  return b;
}

export interface PcpMapResponse {
  opcode: number;
  resultCode: number;
  lifetimeSec: number;
  epochSec: number;
  /** Absent on a header-only error response (§7.2), which cannot be matched by nonce. */
  nonce?: Uint8Array;
  protocol: MapProtocol | number;
  internalPort: number;
  externalPort: number;
  externalAddress: string;
}

/**
 * Decodes a MAP response. Throws PortmapError UNSUPPORTED_VERSION (NAT-PMP server, or result
 * UNSUPP_VERSION), MALFORMED (length, R bit, opcode). A non-zero result code is returned, not
 * thrown: the caller decides (and a nonce mismatch must be ignored before looking at it).
 */
export function decodePcpResponse(b: Uint8Array): PcpMapResponse {
  if (b.length < 4) throw malformed(`${b.length}-byte reply`);
  if (b[0] === 0) {
    throw new PortmapError(
      PORTMAP_ERR.UNSUPPORTED_VERSION,
      'PCP request answered by a NAT-PMP server (version 0, RFC 6887 §9)',
    );
  }
  if (b[0] !== PCP_VERSION) throw malformed(`version ${b[0]}`);
  if (b.length > PCP_MAX_BYTES || b.length % 4 !== 0) throw malformed(`length ${b.length}`);
  if ((b[1]! & 0x80) === 0) throw malformed('a request, not a response (R bit clear)');
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const resultCode = b[3]!;
  if (resultCode === 1) {
    throw new PortmapError(PORTMAP_ERR.UNSUPPORTED_VERSION, 'PCP: UNSUPP_VERSION');
  }
  const opcode = b[1]! & 0x7f;
  if (opcode === PCP_OP_ANNOUNCE && b.length >= HEADER_BYTES) {
    return {
      opcode,
      resultCode,
      lifetimeSec: v.getUint32(4),
      epochSec: v.getUint32(8),
      protocol: 0,
      internalPort: 0,
      externalPort: 0,
      externalAddress: '0.0.0.0',
    };
  }
  if (opcode !== PCP_OP_MAP) throw malformed(`opcode ${opcode}`);
  // §7.2: error responses may be just the header; MAP success carries the 36-byte payload.
  if (b.length < HEADER_BYTES + MAP_BYTES) {
    if (resultCode !== 0 && b.length >= HEADER_BYTES) {
      return {
        opcode,
        resultCode,
        lifetimeSec: v.getUint32(4),
        epochSec: v.getUint32(8),
        protocol: 0,
        internalPort: 0,
        externalPort: 0,
        externalAddress: '0.0.0.0',
      };
    }
    throw malformed(`MAP reply of ${b.length} bytes`);
  }
  const proto = b[36]!;
  return {
    opcode,
    resultCode,
    lifetimeSec: v.getUint32(4),
    epochSec: v.getUint32(8),
    nonce: b.slice(24, 36),
    protocol: proto === PROTO.udp ? 'udp' : proto === PROTO.tcp ? 'tcp' : proto,
    internalPort: v.getUint16(40),
    externalPort: v.getUint16(42),
    externalAddress: readAddress(b, 44),
  };
}

function malformed(what: string): PortmapError {
  return new PortmapError(PORTMAP_ERR.MALFORMED, `PCP: ${what}`);
}
