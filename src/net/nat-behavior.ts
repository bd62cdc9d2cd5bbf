/**
 * NAT behaviour in RFC 4787 terms (STYLE.md §4), shared by the in-memory network, netsim presets,
 * NAT discovery and its reports. Anchor: pion/transport `vnet/nat.go` `NATType`.
 */

/** RFC 4787 §4.1 (mapping) and §5 (filtering): what the NAT's decision depends on. */
export type EndpointDependence =
  'endpoint-independent' | 'address-dependent' | 'address-and-port-dependent';

export interface NatBehavior {
  /** RFC 4787 §4.1: when a new external port is used for the same internal endpoint. */
  readonly mapping: EndpointDependence;
  /** RFC 4787 §5: which outside endpoints may send to an existing mapping. */
  readonly filtering: EndpointDependence;
  /** RFC 4787 §4.1 "port preservation": try to keep the internal port as the external port. */
  readonly portPreservation: boolean;
  /**
   * Sequential port allocation (some CGN / enterprise NATs): each new mapping takes the last
   * allocated port + `sequentialDelta`, NAT-wide. Applies when port preservation does not.
   * Default undefined: random ports.
   */
  readonly sequentialDelta?: number;
  /** RFC 4787 §6: packets from inside to the NAT's own external address loop back inside. */
  readonly hairpinning: boolean;
  /** RFC 4787 §4.3: idle time after which a mapping is gone (outbound traffic refreshes it). */
  readonly mappingTimeoutMs: number;
  /** A firewall that lets no UDP out at all (the network only allows TCP/HTTP). */
  readonly blockUdp: boolean;
}

/** RFC 4787 REQ-5: a UDP mapping must not expire in less than two minutes. */
export const DEFAULT_MAPPING_TIMEOUT_MS = 120_000;

const base: NatBehavior = {
  mapping: 'endpoint-independent',
  filtering: 'endpoint-independent',
  portPreservation: true,
  hairpinning: false,
  mappingTimeoutMs: DEFAULT_MAPPING_TIMEOUT_MS,
  blockUdp: false,
};

/**
 * The classic names (RFC 3489 §5) mapped to RFC 4787 behaviour — the same preset names netsim
 * uses, so a table of cases can run on both.
 */
export const NAT_PRESETS = {
  'full-cone': { ...base },
  'restricted-cone': { ...base, filtering: 'address-dependent' },
  'port-restricted': { ...base, filtering: 'address-and-port-dependent' },
  symmetric: {
    ...base,
    mapping: 'address-and-port-dependent',
    filtering: 'address-and-port-dependent',
    portPreservation: false,
  },
  'udp-blocked': { ...base, blockUdp: true },
} as const satisfies Record<string, NatBehavior>;

export type NatPresetName = keyof typeof NAT_PRESETS;

export function natBehavior(overrides: Partial<NatBehavior> = {}): NatBehavior {
  return { ...base, ...overrides };
}
