/**
 * Is an address one a peer on the internet can send to? A mapping on a router whose own WAN
 * address is private (RFC 1918) or in the shared space of a carrier-grade NAT (RFC 6598) opens
 * a port on the inner NAT only: useless to a peer (issue 11: "reported as useless").
 *
 * The RFC 5737 documentation prefixes count as public here on purpose: they are the netsim
 * lab's internet (netsim/README.md), and nothing real ever uses them.
 */
import { isIPv4 } from 'node:net';

/** [network, prefix length] of IPv4 ranges that are never reachable from the internet. */
const NOT_PUBLIC_V4: readonly [number, number][] = [
  [0x00000000, 8], // 0.0.0.0/8 "this network" (RFC 1122)
  [0x0a000000, 8], // 10/8 (RFC 1918)
  [0x64400000, 10], // 100.64/10 shared address space, carrier-grade NAT (RFC 6598)
  [0x7f000000, 8], // loopback
  [0xa9fe0000, 16], // link-local (RFC 3927)
  [0xac100000, 12], // 172.16/12 (RFC 1918)
  [0xc0000000, 24], // IETF protocol assignments (RFC 6890)
  [0xc0a80000, 16], // 192.168/16 (RFC 1918)
  [0xe0000000, 4], // multicast
  [0xf0000000, 4], // reserved, broadcast
];

function v4ToInt(a: string): number {
  return a.split('.').reduce((n, o) => ((n << 8) | Number(o)) >>> 0, 0);
}

/** True for an IPv4 address outside every non-public range above; false for anything else. */
export function isPublicIPv4(address: string): boolean {
  if (!isIPv4(address)) return false;
  const n = v4ToInt(address);
  return !NOT_PUBLIC_V4.some(([net, len]) => n >>> (32 - len) === net >>> (32 - len));
}

/** Is `address` inside `network/len` (IPv4)? */
export function inSubnetV4(address: string, network: string, len: number): boolean {
  if (!isIPv4(address) || !isIPv4(network)) return false;
  if (len === 0) return true;
  return v4ToInt(address) >>> (32 - len) === v4ToInt(network) >>> (32 - len);
}
