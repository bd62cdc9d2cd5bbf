/**
 * netsim's NAT presets: the rows of the one table of named NATs (src/net/nat-behavior.ts
 * `NAT_TYPES`, shared with MemoryNetwork and the tests) in the shape the kernel rules read
 * (nat-rules.ts). A preset is a mapping behaviour (RFC 4787 §4.1) × a filtering behaviour (§5)
 * and, for the NATs whose mapping depends on the remote side, how new external ports are
 * chosen. The classic names (full cone, ...) come from RFC 3489 §5 and are kept because people
 * use them; the code only ever looks at `mapping` and `filtering`.
 */
import {
  CLASSIC_NAT_TYPES,
  HARD_NAT_TYPES,
  NAT_TYPES,
  type EndpointDependence,
  type NatType,
  type NatTypeName,
  type PortAllocation,
} from '../src/net/nat-behavior.js';

export type { PortAllocation };

/**
 * RFC 4787 §4.1: when does the NAT reuse an external address:port for an internal endpoint?
 * `endpoint-independent`: the same mapping toward every remote endpoint (REQ-1);
 * `address-dependent`: a new mapping per remote IP address; `address-and-port-dependent`: a new
 * mapping per remote IP address and port ("symmetric").
 */
export type MappingBehavior = EndpointDependence;

/**
 * RFC 4787 §5: which inbound packets may use an existing mapping? `endpoint-independent`: any
 * remote endpoint; `address-dependent`: only remote IP addresses the internal endpoint has sent
 * to; `address-and-port-dependent`: only the exact remote IP address and port it has sent to.
 */
export type FilteringBehavior = EndpointDependence;

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
   * mapping (src/net/nat-behavior.ts PortAllocation). Endpoint-independent presets leave it out
   * (their allocation is in nat-rules.ts eimSrcnat).
   */
  readonly portAllocation?: PortAllocation;
}

/** A row of the table as the kernel rules read it. */
function kernelBehavior(t: NatType): NatBehavior {
  return {
    mapping: t.mapping,
    filtering: t.filtering,
    randomPorts: t.allocation === 'random',
    ...(t.mapping === 'endpoint-independent' ? {} : { portAllocation: t.allocation }),
  };
}

export type NatPreset = NatTypeName;

export const NAT_PRESETS: { readonly [K in NatPreset]: NatBehavior } = Object.fromEntries(
  Object.entries(NAT_TYPES).map(([name, t]) => [name, kernelBehavior(t)]),
) as { [K in NatPreset]: NatBehavior };

/**
 * The four classic presets (RFC 3489 names) that the pairwise matrices iterate; the hard-NAT
 * presets below are listed apart so those matrices keep their meaning.
 */
export const NAT_PRESET_NAMES: NatPreset[] = [...CLASSIC_NAT_TYPES];

/** Presets added for hard-NAT traversal (issue 11): predictable symmetric and address-dependent. */
export const HARD_NAT_PRESET_NAMES: NatPreset[] = [...HARD_NAT_TYPES];

export const ALL_NAT_PRESET_NAMES: NatPreset[] = [...NAT_PRESET_NAMES, ...HARD_NAT_PRESET_NAMES];

export function isNatPreset(s: string): s is NatPreset {
  return Object.prototype.hasOwnProperty.call(NAT_PRESETS, s);
}
