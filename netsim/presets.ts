/**
 * NAT behaviour in RFC 4787 terms: a preset is a mapping behaviour (§4.1) × a filtering behaviour
 * (§5). The classic names (full cone, ...) come from RFC 3489 §5 and are kept because people use
 * them; the code only ever looks at `mapping` and `filtering`.
 */

/** RFC 4787 §4.1: when does the NAT reuse an external address:port for an internal endpoint? */
export type MappingBehavior =
  /** Same mapping toward every remote endpoint (REQ-1). */
  | 'endpoint-independent'
  /** A new mapping per remote IP address. */
  | 'address-dependent'
  /** A new mapping per remote IP address and port ("symmetric"). */
  | 'address-and-port-dependent';

/** RFC 4787 §5: which inbound packets may use an existing mapping? */
export type FilteringBehavior =
  /** Any remote endpoint. */
  | 'endpoint-independent'
  /** Only remote IP addresses the internal endpoint has sent to. */
  | 'address-dependent'
  /** Only the exact remote IP address and port the internal endpoint has sent to. */
  | 'address-and-port-dependent';

export interface NatBehavior {
  readonly mapping: MappingBehavior;
  readonly filtering: FilteringBehavior;
  /**
   * Symmetric NATs in the wild pick a fresh random port per mapping, so the next port cannot be
   * guessed from the last one; Linux does this with `snat ... fully-random`.
   */
  readonly randomPorts: boolean;
  /**
   * How a NAT with address(-and-port)-dependent mapping picks the external port of a new
   * mapping — what port prediction (src/punch/port-prediction.ts) has to guess:
   * - `random`: a fresh random port in 1024–65535 (`snat fully-random`); only birthday probing
   *   or a port mapping gets through;
   * - `preserving`: the internal port, when no other mapping holds it as its external port
   *   (then random) — many consumer NATs try this first;
   * - `sequential`: the next port of a counter shared by every mapping the NAT makes (the last
   *   one + 1), as some carrier and enterprise NATs do;
   * - `hashed`: a port derived from (internal endpoint, remote address), so it is the same for
   *   every port of one remote address and different per address — address-dependent mapping.
   * Endpoint-independent presets leave it out (their allocation is in nat-rules.ts eimSrcnat).
   */
  readonly portAllocation?: PortAllocation;
}

export type PortAllocation = 'random' | 'preserving' | 'sequential' | 'hashed';

export const NAT_PRESETS = {
  'full-cone': {
    mapping: 'endpoint-independent',
    filtering: 'endpoint-independent',
    randomPorts: false,
  },
  'restricted-cone': {
    mapping: 'endpoint-independent',
    filtering: 'address-dependent',
    randomPorts: false,
  },
  'port-restricted': {
    mapping: 'endpoint-independent',
    filtering: 'address-and-port-dependent',
    randomPorts: false,
  },
  symmetric: {
    mapping: 'address-and-port-dependent',
    filtering: 'address-and-port-dependent',
    randomPorts: true,
    portAllocation: 'random',
  },
  /** A new mapping per remote address (any port of it reuses it), address-dependent filtering. */
  'address-dependent': {
    mapping: 'address-dependent',
    filtering: 'address-dependent',
    randomPorts: false,
    portAllocation: 'hashed',
  },
  /** Symmetric, but a new mapping keeps the internal port while no other mapping holds it. */
  'symmetric-preserving': {
    mapping: 'address-and-port-dependent',
    filtering: 'address-and-port-dependent',
    randomPorts: false,
    portAllocation: 'preserving',
  },
  /** Symmetric, each new mapping takes the next port of one NAT-wide counter (delta 1). */
  'symmetric-sequential': {
    mapping: 'address-and-port-dependent',
    filtering: 'address-and-port-dependent',
    randomPorts: false,
    portAllocation: 'sequential',
  },
} as const satisfies Record<string, NatBehavior>;

export type NatPreset = keyof typeof NAT_PRESETS;

/**
 * The four classic presets (RFC 3489 names) that the pairwise matrices iterate; the hard-NAT
 * presets below are listed apart so those matrices keep their meaning.
 */
export const NAT_PRESET_NAMES: NatPreset[] = [
  'full-cone',
  'restricted-cone',
  'port-restricted',
  'symmetric',
];

/** Presets added for hard-NAT traversal (issue 11): predictable symmetric and address-dependent. */
export const HARD_NAT_PRESET_NAMES: NatPreset[] = [
  'address-dependent',
  'symmetric-preserving',
  'symmetric-sequential',
];

export const ALL_NAT_PRESET_NAMES: NatPreset[] = [...NAT_PRESET_NAMES, ...HARD_NAT_PRESET_NAMES];

export function isNatPreset(s: string): s is NatPreset {
  return Object.prototype.hasOwnProperty.call(NAT_PRESETS, s);
}
