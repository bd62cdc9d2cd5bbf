/**
 * What every port-mapping protocol driver (NAT-PMP, PCP, UPnP-IGD) offers the PortMapper.
 */
import type { Endpoint } from '../../net/udp.js';
import type { MapProtocol } from './natpmp-codec.js';

export type PortmapProtocolName = 'pcp' | 'natpmp' | 'upnp';

export interface MapRequest {
  protocol: MapProtocol;
  internalPort: number;
  /** Ask for this external port (default: the internal port — keeps the mapping predictable). */
  suggestedExternalPort: number;
  lifetimeSec: number;
}

/** A mapping a router granted. `state` is the driver's own (PCP nonce, UPnP control URL). */
export interface GrantedMapping {
  via: PortmapProtocolName;
  protocol: MapProtocol;
  internalPort: number;
  external: Endpoint;
  lifetimeSec: number;
  state?: unknown;
}

export interface PortmapDriver {
  readonly name: PortmapProtocolName;
  /**
   * Does the router speak this protocol? A request that changes nothing on the router (NAT-PMP
   * external address, PCP ANNOUNCE, SSDP + description + GetExternalIPAddress), so probing all
   * three at once never leaves a mapping behind. Resolves the external address when the
   * protocol tells it. Rejects with a PortmapError.
   */
  probe(signal: AbortSignal): Promise<{ externalAddress?: string }>;
  /** Asks for (or renews, with `previous`) a mapping. Rejects with a PortmapError. */
  map(req: MapRequest, signal: AbortSignal, previous?: GrantedMapping): Promise<GrantedMapping>;
  /** Deletes a mapping this driver granted. Rejects with a PortmapError. */
  unmap(m: GrantedMapping, signal: AbortSignal): Promise<void>;
}
