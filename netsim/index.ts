/**
 * netsim: real NATs in Linux network namespaces. See netsim/README.md.
 */
export { Lab, type LabOptions, type ExecOptions, type ExecResult } from './lab.js';
export type { LabSpec, ServerSpec, NatSpec, HostSpec, LinkOptions } from './spec.js';
export { validateSpec } from './spec.js';
export type { NodeInfo, NodeKind } from './plan.js';
export {
  NAT_PRESETS,
  NAT_PRESET_NAMES,
  HARD_NAT_PRESET_NAMES,
  ALL_NAT_PRESET_NAMES,
  isNatPreset,
  type NatPreset,
  type NatBehavior,
  type MappingBehavior,
  type FilteringBehavior,
  type PortAllocation,
} from './presets.js';
export { NETSIM_ERR, NetsimError, type NetsimErrorCode } from './errors.js';
export { checkPrerequisites, NETSIM_TOOLS } from './prereq.js';
export { listRecords, processAlive, type LabRecord } from './state.js';
export { DEFAULT_STATE_DIR, INTERNET_PREFIXES } from './constants.js';
export { labSpecFromArgs, parseHostArg, parseDurationMs, parsePercent } from './cli-args.js';
