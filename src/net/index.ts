/**
 * The injected network shared by natpush (STYLE.md §3).
 *
 * ```ts
 * import { nodeUdpNetwork, MemoryNetwork, NAT_PRESETS } from '../net/index.js';
 * const sock = await nodeUdpNetwork.bindUdp({ port: 0 });          // real socket
 * const off = sock.onMessage((data, from) => { ... });              // from = { address, port }
 * sock.send(bytes, { address: '203.0.113.1', port: 3478 });
 *
 * const net = new MemoryNetwork({ clock });                          // unit tests
 * const nat = net.addNat({ publicAddress: '198.51.100.7', behavior: NAT_PRESETS.symmetric });
 * const a = net.addHost({ addresses: ['192.168.1.2'], behind: nat }); // a is a UdpNetwork
 * const server = net.addHost({ addresses: ['203.0.113.1', '203.0.113.2'] });
 * ```
 * TCP stays on node:net for now.
 */
export type {
  Endpoint,
  UdpSocket,
  UdpNetwork,
  UdpBindOptions,
  MessageListener,
  ErrorListener,
} from './udp.js';
export {
  endpointKey,
  familyOf,
  sameEndpoint,
  normalizeAddress,
  parseEndpoint,
  checkPort,
} from './udp.js';
export { nodeUdpNetwork, createNodeUdpNetwork } from './node-udp.js';
export type { NodeUdpNetworkOptions } from './node-udp.js';
export { MemoryNetwork, MemoryNat, MemoryHost } from './memory-network.js';
export type { Packet, DropReason, MemoryNetworkOptions } from './memory-network.js';
export {
  NAT_PRESETS,
  NAT_TYPES,
  CLASSIC_NAT_TYPES,
  HARD_NAT_TYPES,
  natBehavior,
  memoryNatBehavior,
  DEFAULT_MAPPING_TIMEOUT_MS,
} from './nat-behavior.js';
export type {
  NatBehavior,
  NatPresetName,
  NatType,
  NatTypeName,
  PortAllocation,
  EndpointDependence,
} from './nat-behavior.js';
