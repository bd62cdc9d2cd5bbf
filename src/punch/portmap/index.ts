/**
 * Port mapping (issue 11): PCP (RFC 6887), NAT-PMP (RFC 6886) and UPnP-IGD (WANIPConnection
 * v1/v2) against the router, for a mapped address that is a peer's top-priority candidate.
 */
export { PortMapper } from './port-mapper.js';
export type {
  PortMapperOptions,
  PortMapping,
  MapOptions,
  ProbeOutcome,
} from './port-mapper-options.js';
export { PORTMAP_ERR, PortmapError, type PortmapErrorCode } from './errors.js';
export type { PortmapProtocolName, GrantedMapping, PortmapDriver, MapRequest } from './types.js';
export { isPublicIPv4 } from './address-scope.js';
export { defaultGateway, type GatewayInfo } from './gateway.js';
export {
  nodeHttpClient,
  type HttpClient,
  type HttpRequest,
  type HttpResponse,
} from './http-client.js';
export { NatpmpDriver } from './natpmp-driver.js';
export { PcpDriver } from './pcp-driver.js';
export { UpnpDriver } from './upnp-driver.js';
export { mappedCandidates, MAPPED_CANDIDATE_PRIORITY } from './mapped-candidate.js';
