/**
 * The PortMapper's options and what it hands out (port-mapper.ts), and why a grant is useless
 * to a peer.
 */
import type { Clock } from '../../util/clock.js';
import type { Logger } from '../../util/logger.js';
import type { UdpNetwork } from '../../net/udp.js';
import { isPublicIPv4 } from './address-scope.js';
import type { HttpClient } from './http-client.js';
import type { GrantedMapping, PortmapDriver, PortmapProtocolName } from './types.js';

export interface PortMapperOptions {
  net: UdpNetwork;
  clock: Clock;
  logger?: Logger;
  /** NAT-PMP/PCP server. Default: the default gateway (/proc/net/route). */
  gateway?: string;
  /** Our address on the gateway's link. Default: the address of the default route's interface. */
  localAddress?: string;
  /** Default: node:http, bounded (http-client.ts). */
  http?: HttpClient;
  /** Protocols to try, all at once. Default all three. */
  protocols?: PortmapProtocolName[];
  /** Lifetime asked for. Default DEFAULT_LIFETIME_SEC (7200 s). */
  lifetimeSec?: number;
  /** How long a probe may take. Default PROBE_TIMEOUT_MS. */
  probeTimeoutMs?: number;
  /** Injected drivers (tests); replaces the built-in ones. */
  drivers?: PortmapDriver[];
}

export interface PortMapping extends GrantedMapping {
  /** When it was granted or last renewed (clock ms). */
  grantedAt: number;
}

export interface MapOptions {
  /** Default: the internal port (a preserving, predictable mapping). */
  suggestedExternalPort?: number;
  /** The address STUN saw: a mapping on another address is on an inner NAT (NOT_PUBLIC). */
  reflexiveAddress?: string;
}

/** Why each protocol did not serve, for reports. */
export type ProbeOutcome =
  { ok: true; externalAddress?: string } | { ok: false; code: string; message: string };

/** Why a grant cannot serve as a peer's candidate, or undefined if it can. */
export function uselessBecause(
  m: GrantedMapping,
  reflexive: string | undefined,
): string | undefined {
  if (!isPublicIPv4(m.external.address)) {
    return `external address ${m.external.address} is not public (a NAT in front of this router, e.g. carrier-grade NAT)`;
  }
  if (reflexive !== undefined && reflexive !== m.external.address) {
    return `external address ${m.external.address} is not the address the internet sees (${reflexive}): double NAT`;
  }
  return undefined;
}
