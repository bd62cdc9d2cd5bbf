/**
 * Which peer addresses the relay may send to (RFC 8656 §21.1.5, "the relay must not be an open
 * relay into the operator's own networks"). CreatePermission / ChannelBind / Send to a refused
 * address get 403 Forbidden.
 *
 * Refused by default: unspecified, loopback, RFC 1918 private, carrier-grade NAT (RFC 6598),
 * link-local, multicast, broadcast, "this network", benchmarking and reserved ranges that are never
 * a peer on the internet, their IPv6 equivalents (ULA, link-local, multicast, IPv4-mapped forms of
 * the above), and the relay's own addresses. Labs and tests open specific ranges with `allow`.
 */
import { BlockList, isIP } from 'node:net';

/** [address, prefix] pairs refused unless allowed. */
export const DENIED_IPV4: readonly (readonly [string, number])[] = [
  ['0.0.0.0', 8], // "this network" (RFC 1122), incl. unspecified
  ['10.0.0.0', 8], // private (RFC 1918)
  ['100.64.0.0', 10], // carrier-grade NAT shared space (RFC 6598)
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local (RFC 3927)
  ['172.16.0.0', 12], // private (RFC 1918)
  ['192.0.0.0', 24], // IETF protocol assignments (RFC 6890)
  ['192.168.0.0', 16], // private (RFC 1918)
  ['198.18.0.0', 15], // benchmarking (RFC 2544)
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved + limited broadcast 255.255.255.255
];

export const DENIED_IPV6: readonly (readonly [string, number])[] = [
  ['::', 128], // unspecified
  ['::1', 128], // loopback
  ['fc00::', 7], // unique local (RFC 4193)
  ['fe80::', 10], // link-local
  ['ff00::', 8], // multicast
  ['64:ff9b:1::', 48], // local-use NAT64 (RFC 8215)
  ['100::', 64], // discard-only (RFC 6666)
];

export interface PeerPolicyOptions {
  /** CIDRs ("10.0.0.0/8", "::1/128", "127.0.0.1") allowed even though denied by default. */
  allow?: readonly string[];
  /** Extra CIDRs to refuse. */
  deny?: readonly string[];
  /** The relay's own addresses (listening and relayed): refused unless in `allow`. */
  ownAddresses?: readonly string[];
}

export type PeerVerdict = 'allowed' | 'denied-range' | 'own-address' | 'invalid';

function addCidr(list: BlockList, cidr: string): void {
  const [addr = '', prefixText] = cidr.split('/');
  const family = isIP(addr);
  if (family === 0) throw new TypeError(`not an IP address or CIDR: ${JSON.stringify(cidr)}`);
  const type = family === 6 ? 'ipv6' : 'ipv4';
  const prefix = prefixText === undefined ? (family === 6 ? 128 : 32) : Number(prefixText);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > (family === 6 ? 128 : 32)) {
    throw new TypeError(`bad prefix length in ${JSON.stringify(cidr)}`);
  }
  list.addSubnet(addr, prefix, type);
}

/** IPv4-mapped IPv6 (::ffff:a.b.c.d) is judged as the IPv4 address it maps to. */
function canonical(address: string): { address: string; type: 'ipv4' | 'ipv6' } | undefined {
  const fam = isIP(address);
  if (fam === 4) return { address, type: 'ipv4' };
  if (fam !== 6) return undefined;
  const lower = address.toLowerCase();
  if (lower.startsWith('::ffff:') && isIP(lower.slice(7)) === 4) {
    return { address: lower.slice(7), type: 'ipv4' };
  }
  return { address: lower, type: 'ipv6' };
}

export class PeerPolicy {
  readonly #denied = new BlockList();
  readonly #allowed = new BlockList();
  readonly #own = new Set<string>();

  constructor(options: PeerPolicyOptions = {}) {
    for (const [a, p] of DENIED_IPV4) this.#denied.addSubnet(a, p, 'ipv4');
    for (const [a, p] of DENIED_IPV6) this.#denied.addSubnet(a, p, 'ipv6');
    for (const c of options.deny ?? []) addCidr(this.#denied, c);
    for (const c of options.allow ?? []) addCidr(this.#allowed, c);
    for (const a of options.ownAddresses ?? []) this.addOwnAddress(a);
  }

  /** The relay learns its relayed addresses as it binds them. */
  addOwnAddress(address: string): void {
    const c = canonical(address);
    if (c) this.#own.add(c.address);
  }

  check(address: string): PeerVerdict {
    const c = canonical(address);
    if (!c) return 'invalid';
    // An explicit allow wins, so a loopback lab can relay between ports of 127.0.0.1; the server
    // still refuses its own listening and relayed transport addresses (relay loops) by port.
    if (this.#allowed.check(c.address, c.type)) return 'allowed';
    if (this.#own.has(c.address)) return 'own-address';
    return this.#denied.check(c.address, c.type) ? 'denied-range' : 'allowed';
  }
}
