/**
 * NAT-PMP (RFC 6886) messages, pure. All fields big-endian.
 *
 * Requests (client → gateway:5351):
 *   external address:  | ver=0 | op=0 |                                           2 bytes
 *   map UDP/TCP:       | ver=0 | op=1/2 | reserved(2) | internal port(2) |
 *                      | suggested external port(2) | lifetime s(4) |             12 bytes
 * Responses (op = 128 + request op):
 *   external address:  | ver | op | result(2) | epoch s(4) | address(4) |        12 bytes
 *   map:               | ver | op | result(2) | epoch s(4) | internal port(2) |
 *                      | mapped external port(2) | lifetime s(4) |               16 bytes
 * RFC 6886 §3.5: a server that does not speak the request's version answers with result 1
 * (Unsupported Version) and its own version — a PCP server (version 2) answering a NAT-PMP
 * request is recognised by that version byte (RFC 6887 §9).
 */
import { formatIPv4 } from '../../stun/ip.js';
import { PORTMAP_ERR, PortmapError } from './errors.js';

export const NATPMP_VERSION = 0;
export const NATPMP_OP_ADDRESS = 0;
export const NATPMP_OP_MAP_UDP = 1;
export const NATPMP_OP_MAP_TCP = 2;
/** RFC 6886 §3.5 result codes. */
export const NATPMP_RESULT = {
  SUCCESS: 0,
  UNSUPPORTED_VERSION: 1,
  NOT_AUTHORIZED: 2,
  NETWORK_FAILURE: 3,
  OUT_OF_RESOURCES: 4,
  UNSUPPORTED_OPCODE: 5,
} as const;

export type MapProtocol = 'udp' | 'tcp';

export function encodeNatpmpAddressRequest(): Uint8Array {
  return Uint8Array.of(NATPMP_VERSION, NATPMP_OP_ADDRESS);
}

export interface NatpmpMapRequest {
  protocol: MapProtocol;
  internalPort: number;
  suggestedExternalPort: number;
  /** 0 deletes the mapping (RFC 6886 §3.4). */
  lifetimeSec: number;
}

export function encodeNatpmpMapRequest(r: NatpmpMapRequest): Uint8Array {
  const b = new Uint8Array(12);
  const v = new DataView(b.buffer);
  b[0] = NATPMP_VERSION;
  b[1] = r.protocol === 'udp' ? NATPMP_OP_MAP_UDP : NATPMP_OP_MAP_TCP;
  v.setUint16(4, r.internalPort);
  v.setUint16(6, r.suggestedExternalPort);
  v.setUint32(8, r.lifetimeSec);
  return b;
}

export type NatpmpResponse =
  | { kind: 'address'; epochSec: number; externalAddress: string }
  | {
      kind: 'map';
      protocol: MapProtocol;
      epochSec: number;
      internalPort: number;
      externalPort: number;
      lifetimeSec: number;
    };

/**
 * Decodes a response. Throws PortmapError: UNSUPPORTED_VERSION (a PCP server answered, or the
 * server says so), REFUSED (non-zero result), MALFORMED (length/opcode wrong for NAT-PMP).
 */
export function decodeNatpmpResponse(b: Uint8Array): NatpmpResponse {
  if (b.length < 2) throw malformed(`${b.length}-byte reply`);
  if (b[0] !== NATPMP_VERSION) {
    throw new PortmapError(
      PORTMAP_ERR.UNSUPPORTED_VERSION,
      `NAT-PMP request answered with version ${b[0]} (2 = PCP, RFC 6887 §9)`,
    );
  }
  const op = b[1]!;
  if (b.length < 4) throw malformed(`${b.length}-byte reply`);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const result = v.getUint16(2);
  if (result === NATPMP_RESULT.UNSUPPORTED_VERSION) {
    throw new PortmapError(PORTMAP_ERR.UNSUPPORTED_VERSION, 'NAT-PMP: unsupported version');
  }
  if (result !== NATPMP_RESULT.SUCCESS) {
    throw new PortmapError(PORTMAP_ERR.REFUSED, `NAT-PMP result code ${result}`);
  }
  if (op === 128 + NATPMP_OP_ADDRESS) {
    if (b.length !== 12) throw malformed(`address reply of ${b.length} bytes, not 12`);
    return { kind: 'address', epochSec: v.getUint32(4), externalAddress: formatIPv4(b, 8) };
  }
  if (op === 128 + NATPMP_OP_MAP_UDP || op === 128 + NATPMP_OP_MAP_TCP) {
    if (b.length !== 16) throw malformed(`map reply of ${b.length} bytes, not 16`);
    return {
      kind: 'map',
      protocol: op === 128 + NATPMP_OP_MAP_UDP ? 'udp' : 'tcp',
      epochSec: v.getUint32(4),
      internalPort: v.getUint16(8),
      externalPort: v.getUint16(10),
      lifetimeSec: v.getUint32(12),
    };
  }
  throw malformed(`opcode ${op}`);
}

function malformed(what: string): PortmapError {
  return new PortmapError(PORTMAP_ERR.MALFORMED, `NAT-PMP: ${what}`);
}
