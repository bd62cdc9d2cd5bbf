/**
 * NAT behaviour from probe results — pure (STYLE.md §2). RFC 5780 §4.3 (mapping), §4.4
 * (filtering), §4.5 (hairpinning), in RFC 4787 terms, plus what it means for hole punching.
 *
 * Which pairs can punch directly (observed on Linux NATs, NETSIM-NOTES.md, and as in
 * Tailscale's netcheck "MappingVariesByDestIP"): a peer behind address-and-port-dependent mapping
 * (symmetric) opens a new port per destination, so the other side must accept packets from a port
 * it has not sent to — endpoint-independent or address-dependent filtering. Two such NATs, or a
 * symmetric NAT and a port-restricted one, need a relay (or port prediction).
 */
import type { EndpointDependence } from '../net/nat-behavior.js';
import type { Endpoint } from '../net/udp.js';

export type Dependence = EndpointDependence | 'unknown';

/** Classic names of the four cone/symmetric NATs (RFC 3489 §5), used by netsim presets too. */
export type NatKind =
  | 'open'
  | 'full-cone'
  | 'restricted-cone'
  | 'port-restricted'
  | 'symmetric'
  | 'udp-blocked'
  | 'other';

export interface MappingEvidence {
  /** Mapped address from the primary server (Test I). */
  primary: Endpoint;
  /** Mapped address seen by another IP on the same port (RFC 5780 Test II), if tested. */
  otherIp?: Endpoint;
  /** Mapped address seen by another IP and port (Test III), if tested. */
  otherIpPort?: Endpoint;
  /** Mapped address seen by the same IP on another port, if tested (port-only alternate). */
  otherPort?: Endpoint;
  /** Mapped addresses seen by other, independent servers (Tailscale netcheck style). */
  otherServers: Endpoint[];
}

const same = (a: Endpoint, b: Endpoint): boolean => a.address === b.address && a.port === b.port;

export function classifyMapping(e: MappingEvidence): Dependence {
  const acrossAddress =
    e.otherIp !== undefined
      ? same(e.primary, e.otherIp)
      : e.otherServers.length > 0
        ? e.otherServers.every((m) => same(m, e.primary))
        : undefined;
  if (acrossAddress === true) return 'endpoint-independent';
  const acrossPort =
    e.otherIp && e.otherIpPort
      ? same(e.otherIp, e.otherIpPort)
      : e.otherPort
        ? same(e.primary, e.otherPort)
        : undefined;
  if (acrossPort === false) return 'address-and-port-dependent';
  if (acrossAddress === false && acrossPort === true) return 'address-dependent';
  return 'unknown';
}

export interface FilteringEvidence {
  /** Response to CHANGE-REQUEST ip+port arrived (Test II); undefined if not testable. */
  fromOtherIpPort?: boolean;
  /** Response to CHANGE-REQUEST port arrived (Test III). */
  fromOtherPort?: boolean;
}

export function classifyFiltering(e: FilteringEvidence): Dependence {
  if (e.fromOtherIpPort === true) return 'endpoint-independent';
  if (e.fromOtherPort === true)
    return e.fromOtherIpPort === false ? 'address-dependent' : 'unknown';
  if (e.fromOtherPort === false) return 'address-and-port-dependent';
  return 'unknown';
}

export function natKind(behindNat: boolean, mapping: Dependence, filtering: Dependence): NatKind {
  if (!behindNat && filtering === 'endpoint-independent') return 'open';
  if (mapping === 'address-and-port-dependent') return 'symmetric';
  if (mapping !== 'endpoint-independent') return 'other';
  switch (filtering) {
    case 'endpoint-independent':
      return 'full-cone';
    case 'address-dependent':
      return 'restricted-cone';
    case 'address-and-port-dependent':
      return 'port-restricted';
    default:
      return 'other';
  }
}

export const PEER_KINDS = [
  'open',
  'full-cone',
  'restricted-cone',
  'port-restricted',
  'symmetric',
] as const;
export type PeerKind = (typeof PEER_KINDS)[number];

const BEHAVIOUR: Record<PeerKind, { mapping: EndpointDependence; filtering: EndpointDependence }> =
  {
    open: { mapping: 'endpoint-independent', filtering: 'endpoint-independent' },
    'full-cone': { mapping: 'endpoint-independent', filtering: 'endpoint-independent' },
    'restricted-cone': { mapping: 'endpoint-independent', filtering: 'address-dependent' },
    'port-restricted': { mapping: 'endpoint-independent', filtering: 'address-and-port-dependent' },
    symmetric: { mapping: 'address-and-port-dependent', filtering: 'address-and-port-dependent' },
  };

/**
 * Can two sides punch a direct UDP path with coordinated simultaneous sends (each answering the
 * source it actually sees)? Fails only when one side's port changes per destination and the
 * other side filters on port.
 */
export function canPunch(
  a: { mapping: Dependence; filtering: Dependence },
  b: { mapping: Dependence; filtering: Dependence },
): boolean {
  const hard = (x: { mapping: Dependence }): boolean => x.mapping !== 'endpoint-independent';
  const portFiltered = (x: { filtering: Dependence }): boolean =>
    x.filtering !== 'endpoint-independent' && x.filtering !== 'address-dependent';
  if (hard(a) && portFiltered(b)) return false;
  if (hard(b) && portFiltered(a)) return false;
  return true;
}

export interface PunchOutlook {
  direct: PeerKind[];
  relay: PeerKind[];
}

export function punchOutlook(self: {
  mapping: Dependence;
  filtering: Dependence;
  udp: boolean;
}): PunchOutlook {
  if (!self.udp) return { direct: [], relay: [...PEER_KINDS] };
  const direct = PEER_KINDS.filter((k) => canPunch(self, BEHAVIOUR[k]));
  return { direct, relay: PEER_KINDS.filter((k) => !direct.includes(k)) };
}
