/**
 * The nftables ruleset of a NAT router, built from RFC 4787 behaviours. Pure: text in, text out.
 *
 * How each behaviour is made from Linux parts (kernel facts in /work/shared/NETSIM-NOTES.md):
 * - Mapping (RFC 4787 §4.1). `snat` keeps the internal source port when the resulting tuple is
 *   free, and an `endpoints` map gives a new flow from the same internal endpoint the same
 *   external port again: endpoint-independent mapping (see eimSrcnat for several hosts).
 *   `snat ... fully-random` draws a fresh random port for every
 *   new flow (every remote address:port): address-and-port-dependent mapping with unpredictable
 *   ports, i.e. "symmetric".
 * - Filtering (RFC 4787 §5). conntrack alone lets in only replies from the exact remote endpoint
 *   a flow was opened to: address-and-port-dependent filtering. For the looser filters we keep
 *   our own state, written after SNAT (priority srcnat + 100) when the translated port is known:
 *   `bindings` maps each external UDP port to the internal endpoint that owns it, and `contacted`
 *   records (external port, remote address) pairs. An unsolicited inbound packet is DNATed
 *   through `bindings` — for any sender (endpoint-independent filtering) or only for a sender in
 *   `contacted` (address-dependent filtering).
 * - Unsolicited inbound packets that match nothing are dropped by the router itself. Otherwise
 *   an early hole-punch packet would create a local conntrack entry for the external port, and
 *   the next outbound flow would be SNATed to another port.
 * - Hairpinning (RFC 4787 §6, REQ-9): a packet from the LAN to the NAT's own public address is
 *   DNATed through `bindings` and SNATed to the public address, so the receiver sees the
 *   sender's external address and port. No filtering applies on the hairpin path.
 * - Binding lifetime (RFC 4787 §4.3): conntrack's UDP timeouts (namespace sysctls) and the
 *   timeout of the sets above, refreshed by outbound packets only (REQ-6 requires outbound
 *   refresh; inbound refresh is optional, and we leave it out so the timeout can be tested).
 * Only UDP gets the extra state; TCP is always address-and-port-dependent (conntrack).
 */
import type { NatBehavior } from './presets.js';

export interface NatRulesOptions {
  behavior: NatBehavior;
  /** The NAT's public (WAN) address. */
  publicAddress: string;
  hairpinning: boolean;
  udpBlocked: boolean;
  /** Lifetime of `bindings` / `contacted` entries, in seconds. */
  bindingTimeoutSec: number;
  wanIf: string;
  lanIf: string;
}

/** The nft script (for `nft -f -`) of one NAT router. */
export function natRuleset(o: NatRulesOptions): string {
  const { behavior: b, publicAddress: pub, wanIf: wan, lanIf: lan } = o;
  const t = `${o.bindingTimeoutSec}s`;
  const snatFlags = b.randomPorts || b.mapping !== 'endpoint-independent' ? ' fully-random' : '';
  const dstnat: string[] = [];
  if (b.filtering === 'endpoint-independent') {
    dstnat.push(`iifname "${wan}" ip daddr ${pub} dnat ip to udp dport map @bindings`);
  } else if (b.filtering === 'address-dependent') {
    dstnat.push(
      `iifname "${wan}" ip daddr ${pub} udp dport . ip saddr @contacted dnat ip to udp dport map @bindings`,
    );
  }
  if (o.hairpinning) {
    dstnat.push(`iifname "${lan}" ip daddr ${pub} dnat ip to udp dport map @bindings`);
  }
  const srcnat = b.mapping === 'endpoint-independent' ? eimSrcnat(o) : dependentSrcnat(o);
  const hashed = b.mapping !== 'endpoint-independent' && allocationOf(b) === 'hashed';
  if (o.hairpinning) {
    const hp = `iifname "${lan}" oifname "${lan}" ct status dnat`;
    if (b.mapping === 'endpoint-independent') {
      srcnat.push(`${hp} meta l4proto udp snat ip to ${pub} : ip saddr . udp sport map @endpoints`);
    }
    srcnat.push(`${hp} snat ip to ${pub}${snatFlags}`);
  }
  const forward = [
    o.udpBlocked ? `iifname "${lan}" meta l4proto udp drop` : '',
    `iifname "${lan}" accept`,
    `iifname "${wan}" ct state established,related accept`,
    // Inbound flows we DNATed ourselves through `bindings` (the filter already said yes).
    `iifname "${wan}" ct status dnat accept`,
  ].filter((l) => l !== '');
  const input = [
    `iifname "${wan}" ct state established,related accept`,
    `iifname "${wan}" drop`,
    // Without hairpinning, a packet to our own public address from inside goes nowhere.
    o.hairpinning ? '' : `iifname "${lan}" ip daddr ${pub} drop`,
  ].filter((l) => l !== '');
  return `table ip natpush {
  map bindings {
    type inet_service : ipv4_addr . inet_service
    flags dynamic,timeout
    timeout ${t}
  }
  set contacted {
    type inet_service . ipv4_addr
    flags dynamic,timeout
    timeout ${t}
  }
  map endpoints {
    type ipv4_addr . inet_service : inet_service
    flags dynamic,timeout
    timeout ${t}
  }
  set taken {
    type inet_service
    flags dynamic,timeout
    timeout ${t}
  }
  chain dstnat {
    type nat hook prerouting priority dstnat; policy accept;
${indent(dstnat)}
  }
  chain srcnat {
    type nat hook postrouting priority srcnat; policy accept;
${indent(srcnat)}
  }
  chain track {
    type filter hook postrouting priority srcnat + 100; policy accept;
    oifname "${wan}" ct direction original update @bindings { udp sport : ct original ip saddr . ct original proto-src }
    oifname "${wan}" update @contacted { udp sport . ip daddr }
    oifname "${wan}" ct direction original update @taken { udp sport }
    oifname "${wan}" meta l4proto udp ct direction original update @endpoints { ct original ip saddr . ct original proto-src : udp sport }
  }
  chain forward {
    type filter hook forward priority filter; policy drop;
${indent(forward)}
  }
  chain input {
    type filter hook input priority filter; policy accept;
${indent(input)}
  }
${hashed ? addressDependentChains(o) : ''}}
`;
}

/**
 * Endpoint-independent mapping for several hosts. Plain `snat` keeps the source port whenever
 * the 5-tuple stays unique, so two hosts using the same local port toward different servers
 * would share one external port, and an inbound packet to it could reach only one of them. A
 * real EIM NAT gives each internal endpoint its own external port (RFC 4787 §4.1), so:
 * 1. an internal endpoint with a binding (`endpoints`, written after SNAT) gets its port again;
 * 2. one whose local port is already another endpoint's external port (`taken`) gets a random
 *    free port;
 * 3. otherwise the local port is kept (port preservation, as Linux and most NATs do).
 * (nft 1.0.6 types `ct original proto-src` only after a `meta l4proto` match in the same rule.)
 */
function eimSrcnat(o: NatRulesOptions): string[] {
  const out = `oifname "${o.wanIf}"`;
  return [
    `${out} meta l4proto udp snat ip to ${o.publicAddress} : ip saddr . udp sport map @endpoints`,
    `${out} udp sport @taken snat ip to ${o.publicAddress} fully-random`,
    `${out} snat ip to ${o.publicAddress}`,
  ];
}

/**
 * The external port of a new UDP mapping of an address(-and-port)-dependent NAT
 * (presets.ts `portAllocation`). Every new flow is a new conntrack entry, so each rule below
 * runs once per mapping:
 * - random: `fully-random` draws from 1024–65535;
 * - preserving: plain `snat` keeps the internal port — but it would keep it for every
 *   destination (5-tuples stay unique), which is endpoint-independent mapping. So a port some
 *   mapping already holds (`@taken`, written after SNAT) goes fully-random instead;
 * - sequential: `numgen inc` counts mappings NAT-wide; looked up in a map of consecutive ports
 *   (nft 1.0.6 byte-swaps `numgen inc` used directly as a port, a map lookup is correct);
 * - hashed (address-dependent mapping): the internal port XORed with a constant chosen by
 *   jhash(internal address, remote address) among ADDRESS_KEYS chains (`adm0`…), so every port
 *   of one remote address gets the same mapping and another address (almost always) another
 *   one. For a given internal host and remote address this is a bijection of ports, so two
 *   sockets never collide on one external port: a hash of the port itself into a small port
 *   map did, and the kernel then drops the second flow's packets (its reply tuple is taken) —
 *   a lost STUN measurement in about 1 run of 300 (CI, hard-nat.test.ts). The constants keep
 *   bit 15 clear, so an ephemeral port (32768–60999) stays ≥ 32768 and never equals itself.
 * TCP keeps plain (port-preserving) SNAT in every case.
 */
function allocationOf(b: NatBehavior): NonNullable<NatBehavior['portAllocation']> {
  return b.portAllocation ?? (b.randomPorts ? 'random' : 'preserving');
}

function dependentSrcnat(o: NatRulesOptions): string[] {
  const out = `oifname "${o.wanIf}"`;
  const pub = o.publicAddress;
  switch (allocationOf(o.behavior)) {
    case 'random':
      return [`${out} snat ip to ${pub} fully-random`];
    case 'preserving':
      return [`${out} udp sport @taken snat ip to ${pub} fully-random`, `${out} snat ip to ${pub}`];
    case 'sequential':
      return [
        `${out} meta l4proto udp snat ip to ${pub} : numgen inc mod ${ALLOC_PORTS} map ${portMap(SEQUENTIAL_BASE_PORT)}`,
        `${out} snat ip to ${pub}`,
      ];
    case 'hashed': {
      const chains = Array.from({ length: ADDRESS_KEYS }, (_, k) => `${k} : jump adm${k}`);
      return [
        `${out} meta l4proto udp jhash ip saddr . ip daddr mod ${ADDRESS_KEYS} seed 0x6e617470 vmap { ${chains.join(', ')} }`,
        `${out} snat ip to ${pub}`,
      ];
    }
  }
}

/**
 * Ports the sequential allocator hands out: 2048 of them from 40000, enough for every lab (a
 * test makes tens of mappings) while the map stays a few tens of kB of ruleset.
 */
export const ALLOC_PORTS = 2048;
export const SEQUENTIAL_BASE_PORT = 40000;

/** How many XOR constants an address-dependent NAT picks from (see dependentSrcnat). */
export const ADDRESS_KEYS = 16;

/** The XOR constant of chain `adm${k}`: distinct, in 0x1000–0x7fff (bit 15 clear, never 0). */
export function addressKey(k: number): number {
  return 0x1000 + ((k * 0x0731) % 0x7000);
}

/** The chains the `hashed` allocation jumps to: one external-port XOR each. */
function addressDependentChains(o: NatRulesOptions): string {
  const chains: string[] = [];
  for (let k = 0; k < ADDRESS_KEYS; k++) {
    chains.push(`  chain adm${k} {
    meta l4proto udp snat ip to ${o.publicAddress} : udp sport ^ 0x${addressKey(k).toString(16)}
  }`);
  }
  return chains.join('\n') + '\n';
}

function portMap(base: number): string {
  const entries: string[] = [];
  for (let i = 0; i < ALLOC_PORTS; i++) entries.push(`${i} : ${base + i}`);
  return `{ ${entries.join(', ')} }`;
}

function indent(lines: string[]): string {
  return lines.map((l) => `    ${l}`).join('\n');
}

/** nft script dropping `lossPercent` of the packets crossing `ifname`, in each direction. */
export function lossRuleset(ifname: string, lossPercent: number, scale: number): string {
  const threshold = Math.round((lossPercent / 100) * scale);
  return `table ip natpush_link {
  chain ingress {
    type filter hook prerouting priority raw - 10; policy accept;
    iifname "${ifname}" numgen random mod ${scale} < ${threshold} drop
  }
  chain egress {
    type filter hook postrouting priority srcnat + 200; policy accept;
    oifname "${ifname}" numgen random mod ${scale} < ${threshold} drop
  }
}
`;
}
