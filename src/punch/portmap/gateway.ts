/**
 * Where the port-mapping servers are: the default gateway (RFC 6886 §3: "the client sends to
 * the default gateway"; RFC 6887 §8.1 likewise) and our own address on its link, which PCP
 * must put in its header (§8.1: it must equal the packet's source address) and UPnP in
 * NewInternalClient. Wiring, not protocol: reads Linux's /proc/net/route and the interface list.
 */
import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { inSubnetV4 } from './address-scope.js';

export interface GatewayInfo {
  gateway: string;
  /** Our IPv4 address on the interface the default route leaves by. */
  localAddress: string;
}

/** The IPv4 default gateway and our address next to it; undefined if there is none. */
export function defaultGateway(routeTable = '/proc/net/route'): GatewayInfo | undefined {
  let text: string;
  try {
    text = readFileSync(routeTable, 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n').slice(1)) {
    const [iface, dest, gw, , , , , mask] = line.trim().split(/\s+/);
    if (!iface || dest !== '00000000' || mask !== '00000000' || !gw) continue;
    // /proc/net/route prints addresses as little-endian hex.
    const n = parseInt(gw, 16);
    const gateway = [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24].join('.');
    const local = (networkInterfaces()[iface] ?? []).find(
      (a) => a.family === 'IPv4' && inSubnetV4(gateway, a.address, prefixLen(a.netmask)),
    );
    const fallback = (networkInterfaces()[iface] ?? []).find((a) => a.family === 'IPv4');
    const localAddress = (local ?? fallback)?.address;
    if (localAddress !== undefined) return { gateway, localAddress };
  }
  return undefined;
}

function prefixLen(netmask: string): number {
  return netmask
    .split('.')
    .reduce((n, o) => n + (Number(o).toString(2).match(/1/g)?.length ?? 0), 0);
}
