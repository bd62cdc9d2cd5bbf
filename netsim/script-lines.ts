/**
 * The shell pieces of a namespace's setup script (plan.ts builds one per namespace, run with
 * `sh -e`): sysctls, `ip -batch` and `nft -f` here-documents. Pure text.
 */

/** Sysctls every lab namespace gets. */
export function baseSysctls(forwarding: boolean): string[] {
  return [
    // No IPv6 at all: no DAD delay on link up, no router solicitations, nothing to leak.
    'net.ipv6.conf.all.disable_ipv6=1',
    'net.ipv6.conf.default.disable_ipv6=1',
    // Reverse-path filtering would drop asymmetric lab traffic (e.g. a server answering from its
    // alternate address); set explicitly, a new namespace's default is not guaranteed.
    'net.ipv4.conf.all.rp_filter=0',
    'net.ipv4.conf.default.rp_filter=0',
    `net.ipv4.ip_forward=${forwarding ? 1 : 0}`,
  ];
}

export function sysctlLines(kv: string[]): string[] {
  return kv.map((s) => {
    const [k, v] = s.split('=') as [string, string];
    return `echo ${v} > /proc/sys/${k.replace(/\./g, '/')}`;
  });
}

/** bridge-nf-call-iptables is 1 in every new namespace: bridged frames would go through
 * iptables/nftables ip hooks. Turn it off where there is a bridge (exists only with br_netfilter). */
export const BRIDGE_NF_OFF = [
  'for f in /proc/sys/net/bridge/bridge-nf-call-iptables /proc/sys/net/bridge/bridge-nf-call-arptables; do',
  '  if [ -w "$f" ]; then echo 0 > "$f"; fi',
  'done',
];

export function ipBatch(lines: string[]): string[] {
  return ['ip -batch - <<"NETSIM_EOF"', ...lines, 'NETSIM_EOF'];
}

export function nftScript(text: string): string[] {
  return ['nft -f - <<"NETSIM_EOF"', text.trimEnd(), 'NETSIM_EOF'];
}
