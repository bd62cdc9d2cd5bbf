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
}

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
  },
} as const satisfies Record<string, NatBehavior>;

export type NatPreset = keyof typeof NAT_PRESETS;

export const NAT_PRESET_NAMES = Object.keys(NAT_PRESETS) as NatPreset[];

export function isNatPreset(s: string): s is NatPreset {
  return Object.prototype.hasOwnProperty.call(NAT_PRESETS, s);
}
