/**
 * NAT behaviour in RFC 4787 terms (STYLE.md §4) — the one vocabulary of natpush. `NAT_TYPES` is
 * the one table of named NATs; the in-memory network (`NAT_PRESETS` below), netsim's kernel NATs
 * (netsim/presets.ts) and the tests derive their presets from it, so a case named
 * `symmetric-sequential` means the same thing on MemoryNetwork and in a netsim lab.
 * Anchor: pion/transport `vnet/nat.go` `NATType{MappingBehavior, FilteringBehavior}`.
 */

/** RFC 4787 §4.1 (mapping) and §5 (filtering): what the NAT's decision depends on. */
export type EndpointDependence =
  'endpoint-independent' | 'address-dependent' | 'address-and-port-dependent';

/**
 * How a NAT picks the external port of a new mapping — what port prediction
 * (src/punch/port-prediction.ts) has to guess:
 * - `random`: a fresh random port in 1024–65535 (Linux `snat fully-random`); only birthday
 *   probing or a port mapping gets through;
 * - `preserving`: the internal port, when no other mapping holds it (then random) — RFC 4787
 *   §4.1 "port preservation", what many consumer NATs try first;
 * - `sequential`: the next port of a counter shared by every mapping the NAT makes (the last
 *   one + 1), as some carrier and enterprise NATs do;
 * - `hashed`: a port derived from (internal endpoint, remote address): the same for every port
 *   of one remote address and different per address — address-dependent mapping.
 */
export type PortAllocation = 'random' | 'preserving' | 'sequential' | 'hashed';

/** One named NAT: the four facts every tier agrees on. */
export interface NatType {
  /** RFC 4787 §4.1: when a new external port is used for the same internal endpoint. */
  readonly mapping: EndpointDependence;
  /** RFC 4787 §5: which outside endpoints may send to an existing mapping. */
  readonly filtering: EndpointDependence;
  /** How a new mapping's external port is chosen (see PortAllocation). */
  readonly allocation: PortAllocation;
  /** RFC 4787 §6: packets from inside to the NAT's own external address loop back inside. */
  readonly hairpin: boolean;
}

const EI = 'endpoint-independent';
const AD = 'address-dependent';
const APD = 'address-and-port-dependent';

/**
 * The one table. The classic names come from RFC 3489 §5 and are kept because people use them;
 * code only ever looks at the RFC 4787 fields. No preset hairpins by default (RFC 4787 REQ-9
 * asks for it, many home NATs lack it); a lab or a test turns it on per NAT.
 */
export const NAT_TYPES = {
  'full-cone': { mapping: EI, filtering: EI, allocation: 'preserving', hairpin: false },
  'restricted-cone': { mapping: EI, filtering: AD, allocation: 'preserving', hairpin: false },
  'port-restricted': { mapping: EI, filtering: APD, allocation: 'preserving', hairpin: false },
  symmetric: { mapping: APD, filtering: APD, allocation: 'random', hairpin: false },
  /** A new mapping per remote address (any port of it reuses it), address-dependent filtering. */
  'address-dependent': { mapping: AD, filtering: AD, allocation: 'hashed', hairpin: false },
  /** Symmetric, but a new mapping keeps the internal port while no other mapping holds it. */
  'symmetric-preserving': {
    mapping: APD,
    filtering: APD,
    allocation: 'preserving',
    hairpin: false,
  },
  /** Symmetric, each new mapping takes the next port of one NAT-wide counter (delta 1). */
  'symmetric-sequential': {
    mapping: APD,
    filtering: APD,
    allocation: 'sequential',
    hairpin: false,
  },
} as const satisfies Record<string, NatType>;

export type NatTypeName = keyof typeof NAT_TYPES;

/** The four classic names (RFC 3489) that the pairwise matrices iterate. */
export const CLASSIC_NAT_TYPES = [
  'full-cone',
  'restricted-cone',
  'port-restricted',
  'symmetric',
] as const satisfies readonly NatTypeName[];

/** Added for hard-NAT traversal (issue 11): predictable symmetric and address-dependent. */
export const HARD_NAT_TYPES = [
  'address-dependent',
  'symmetric-preserving',
  'symmetric-sequential',
] as const satisfies readonly NatTypeName[];

/** What the in-memory NAT (memory-nat.ts) does: a NatType plus its simulation knobs. */
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
  /**
   * `hashed` allocation: a new mapping's port is derived from (internal endpoint, remote
   * address), probing upward past ports in use. Applies when neither of the above does.
   */
  readonly hashedPorts?: boolean;
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
  mapping: EI,
  filtering: EI,
  portPreservation: true,
  hairpinning: false,
  mappingTimeoutMs: DEFAULT_MAPPING_TIMEOUT_MS,
  blockUdp: false,
};

/** The in-memory NAT's behaviour for a row of the table. */
export function memoryNatBehavior(t: NatType): NatBehavior {
  return {
    ...base,
    mapping: t.mapping,
    filtering: t.filtering,
    portPreservation: t.allocation === 'preserving',
    ...(t.allocation === 'sequential' ? { sequentialDelta: 1 } : {}),
    ...(t.allocation === 'hashed' ? { hashedPorts: true } : {}),
    hairpinning: t.hairpin,
  };
}

type MemoryPresets = { readonly [K in NatTypeName | 'udp-blocked']: NatBehavior };

/**
 * MemoryNetwork's presets: every row of NAT_TYPES, plus `udp-blocked` (a firewall, not a NAT
 * type: netsim spells it as a per-NAT option, `udpBlocked`).
 */
export const NAT_PRESETS: MemoryPresets = {
  ...(Object.fromEntries(
    Object.entries(NAT_TYPES).map(([name, t]) => [name, memoryNatBehavior(t)]),
  ) as Record<NatTypeName, NatBehavior>),
  'udp-blocked': { ...base, blockUdp: true },
};

export type NatPresetName = keyof typeof NAT_PRESETS;

export function natBehavior(overrides: Partial<NatBehavior> = {}): NatBehavior {
  return { ...base, ...overrides };
}
