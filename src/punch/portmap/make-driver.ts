/**
 * The built-in driver for one port-mapping protocol (PortMapper's default drivers), or none when
 * what it needs is unknown: NAT-PMP needs the gateway, PCP the gateway and our address on its
 * link (RFC 6887 §8.1: the client's address is in every request); UPnP-IGD finds its router by
 * SSDP and needs neither.
 */
import type { UdpNetwork } from '../../net/udp.js';
import type { Clock } from '../../util/clock.js';
import type { HttpClient } from './http-client.js';
import { NatpmpDriver } from './natpmp-driver.js';
import { PcpDriver } from './pcp-driver.js';
import type { PortmapDriver, PortmapProtocolName } from './types.js';
import { UpnpDriver } from './upnp-driver.js';

export interface DriverContext {
  net: UdpNetwork;
  clock: Clock;
  timeoutMs: number;
  http: HttpClient;
  gateway?: string;
  localAddress?: string;
}

export function makeDriver(name: PortmapProtocolName, c: DriverContext): PortmapDriver | undefined {
  const base = { net: c.net, clock: c.clock, timeoutMs: c.timeoutMs };
  const { gateway, localAddress } = c;
  switch (name) {
    case 'natpmp':
      if (gateway === undefined) return undefined;
      return new NatpmpDriver({ ...base, gateway, ...(localAddress ? { localAddress } : {}) });
    case 'pcp':
      if (gateway === undefined || localAddress === undefined) return undefined;
      return new PcpDriver({ ...base, gateway, localAddress });
    case 'upnp':
      return new UpnpDriver({ ...base, http: c.http, ...(localAddress ? { localAddress } : {}) });
  }
}
