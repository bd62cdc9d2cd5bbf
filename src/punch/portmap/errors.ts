/**
 * Typed operational errors of the port-mapping client (STYLE.md §7). A hostile or broken router
 * gets one of these, never a crash; misuse by a programmer throws TypeError/RangeError.
 */
import { NatpushError } from '../../util/errors.js';

export const PORTMAP_ERR = {
  /** No protocol answered: no NAT-PMP/PCP server on the gateway, no UPnP IGD on the LAN. */
  NO_GATEWAY: 'NATPUSH_ERR_PORTMAP_NO_GATEWAY',
  /** The router answered but refused the mapping (result code / SOAP fault in the message). */
  REFUSED: 'NATPUSH_ERR_PORTMAP_REFUSED',
  /** The router speaks another version of the protocol (NAT-PMP ↔ PCP, RFC 6887 §9). */
  UNSUPPORTED_VERSION: 'NATPUSH_ERR_PORTMAP_UNSUPPORTED_VERSION',
  /** A reply of the wrong length, opcode or shape, or unparseable XML. */
  MALFORMED: 'NATPUSH_ERR_PORTMAP_MALFORMED',
  /** A reply over its size bound (huge XML, an endless HTTP body, a giant SSDP answer). */
  TOO_LARGE: 'NATPUSH_ERR_PORTMAP_TOO_LARGE',
  /** The router granted a mapping for something we did not ask for (port, protocol, family). */
  UNEXPECTED_MAPPING: 'NATPUSH_ERR_PORTMAP_UNEXPECTED_MAPPING',
  /**
   * The mapping's external address is not public (RFC 1918 / RFC 6598 shared space: a router
   * behind carrier-grade NAT), or not the address the internet sees: useless to a peer.
   */
  NOT_PUBLIC: 'NATPUSH_ERR_PORTMAP_NOT_PUBLIC',
  /** No answer within the protocol's retransmission schedule. */
  TIMEOUT: 'NATPUSH_ERR_PORTMAP_TIMEOUT',
  /** The mapper was closed. */
  CLOSED: 'NATPUSH_ERR_PORTMAP_CLOSED',
} as const;
export type PortmapErrorCode = (typeof PORTMAP_ERR)[keyof typeof PORTMAP_ERR];

export class PortmapError extends NatpushError {
  declare readonly code: PortmapErrorCode;
  constructor(code: PortmapErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'PortmapError';
  }
}
