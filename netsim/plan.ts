/**
 * From a validated spec to a concrete plan: namespaces, veth pairs, addresses, routes, and the
 * shell script that configures each namespace. Pure, so the address plan is unit-testable.
 *
 * Topology: one `inet` namespace holds a bridge (`br`) — the internet, a single L2 segment with
 * both 203.0.113.0/24 and 198.51.100.0/24 on link. Servers, internet hosts and NATs plug into it
 * with their `eth0`/`wan`. Each NAT has a LAN bridge (`lan`) with its hosts' `eth0` and, for a
 * carrier-grade NAT, the `wan` of the NATs behind it. Nothing is connected to the root namespace,
 * and no namespace has a route anywhere but the lab's own prefixes.
 */
import {
  ALTERNATE_NET,
  CARRIER_NET,
  INTERNET_HOST_BASE,
  LAN_HOST_BASE,
  LAN_NAT_BASE,
  LINUX_UDP_STREAM_TIMEOUT_SEC,
  NAT_WAN_HOST_BASE,
  PUBLIC_NET,
  SERVER_HOST_BASE,
} from './constants.js';
import { miniupnpdRuleset } from './miniupnpd.js';
import { natRuleset } from './nat-rules.js';
import { NAT_PRESETS, type NatPreset } from './presets.js';
import { baseSysctls, BRIDGE_NF_OFF, ipBatch, nftScript, sysctlLines } from './script-lines.js';
import type { LabSpec, LinkOptions, NatSpec } from './spec.js';

export type NodeKind = 'server' | 'host' | 'nat';

/** Public facts about one node of a lab. */
export interface NodeInfo {
  name: string;
  kind: NodeKind;
  /** The network namespace (`ip netns exec <namespace> ...`). */
  namespace: string;
  /** The uplink address: public for servers and internet hosts, private behind a NAT, the WAN
   * address of a NAT (public, or 100.64.x.x behind a carrier-grade NAT). */
  address: string;
  /** A server's RFC 5780 alternate address (198.51.100.0/24), if it has one. */
  alternateAddress?: string;
  /** A NAT's LAN-side address (the gateway of the hosts behind it). */
  lanAddress?: string;
  /** The NAT this node sits behind. */
  behind?: string;
  /** A NAT's preset. */
  preset?: NatPreset;
  /** A NAT running miniupnpd (port mappings by UPnP-IGD, NAT-PMP, PCP), and its IGD version. */
  miniupnpd?: { igdVersion: 1 | 2 };
  /** Uplink interface name inside the namespace: `eth0`, or `wan` on a NAT. */
  uplink: string;
  link?: LinkOptions;
}

export interface VethPair {
  ns: string;
  ifname: string;
  index: number;
  peerNs: string;
  peerIf: string;
  peerIndex: number;
}

/**
 * Interface indexes are per namespace, so the two ends of a veth can get the same one (2 and 2,
 * the first device after lo). The kernel's linkwatch then takes the link for a non-veth
 * (`ifindex == iflink`) and applies its up-to-1 s batching to the carrier change: a bridge port
 * stays "disabled" and drops every frame for up to a second after the lab is up. Seen here;
 * fixed by giving uplinks and bridge ports distinct index ranges.
 */
const UPLINK_IFINDEX = 10;
const PORT_IFINDEX_BASE = 100;

export interface LabPlan {
  prefix: string;
  internetNs: string;
  nodes: NodeInfo[];
  veths: VethPair[];
  /** Shell script (run with `sh -e` inside the namespace) for every namespace. */
  scripts: Map<string, string>;
}

interface Builder {
  prefix: string;
  nodes: NodeInfo[];
  veths: VethPair[];
  scripts: Map<string, string>;
  /** Next free port index per parent namespace (`p0`, `p1`, ... on a bridge). */
  ports: Map<string, number>;
  /** NAT scripts wait for their LAN bridge ports, known only once all nodes are planned. */
  natParts: Map<string, { head: string[]; ip: string[] }>;
}

function nsName(prefix: string, node: string): string {
  return `${prefix}-${node}`;
}

/** Plug `ns`'s uplink into the bridge `bridge` living in `parentNs`. Returns the bridge port. */
function plug(b: Builder, ns: string, ifname: string, parentNs: string): string {
  const i = b.ports.get(parentNs) ?? 0;
  b.ports.set(parentNs, i + 1);
  const peerIf = `p${i}`;
  b.veths.push({
    ns,
    ifname,
    index: UPLINK_IFINDEX,
    peerNs: parentNs,
    peerIf,
    peerIndex: PORT_IFINDEX_BASE + i,
  });
  return peerIf;
}

/** Routes of a node on the internet: both lab prefixes on link, nothing else. */
function internetRoutes(ifname: string, own: string[]): string[] {
  const onLink: string[] = [];
  if (!own.some((a) => a.startsWith(`${PUBLIC_NET}.`))) onLink.push(`${PUBLIC_NET}.0/24`);
  if (!own.some((a) => a.startsWith(`${ALTERNATE_NET}.`))) onLink.push(`${ALTERNATE_NET}.0/24`);
  return onLink.map((p) => `route add ${p} dev ${ifname}`);
}

function endScript(ns: string, lines: string[], b: Builder): void {
  b.scripts.set(ns, lines.join('\n') + '\n');
}

interface Attachment {
  /** Namespace of the bridge this node plugs into. */
  parentNs: string;
  address: string;
  gateway?: string;
}

function leafScript(ifname: string, att: Attachment, extra: string[], routes: string[]): string[] {
  return [
    ...sysctlLines(baseSysctls(false)),
    ...ipBatch([
      'link set dev lo up',
      `addr add ${att.address}/24 dev ${ifname}`,
      ...extra.map((a) => `addr add ${a}/24 dev ${ifname}`),
      `link set dev ${ifname} up`,
      ...routes,
    ]),
  ];
}

export function planLab(prefix: string, spec: Required<LabSpec>): LabPlan {
  const b: Builder = {
    prefix,
    nodes: [],
    veths: [],
    scripts: new Map(),
    ports: new Map(),
    natParts: new Map(),
  };
  const inet = nsName(prefix, 'inet');
  planServers(b, inet, spec);
  const natAttach = planNats(b, inet, spec);
  planHosts(b, inet, spec, natAttach);
  for (const [ns, part] of b.natParts) {
    const lanPorts = portsOf(b, ns);
    endScript(
      ns,
      [
        ...part.head,
        ...ipBatch([
          ...part.ip,
          ...lanPorts.map((p) => `link set dev ${p} master lan`),
          ...lanPorts.map((p) => `link set dev ${p} up`),
        ]),
      ],
      b,
    );
  }
  // The internet: a bridge and the ports plugged into it, after all ports are known.
  const ports = portsOf(b, inet);
  endScript(
    inet,
    [
      ...sysctlLines(baseSysctls(false)),
      ...BRIDGE_NF_OFF,
      ...ipBatch([
        'link set dev lo up',
        'link add name br type bridge forward_delay 0 stp_state 0',
        ...ports.map((p) => `link set dev ${p} master br`),
        ...ports.map((p) => `link set dev ${p} up`),
        'link set dev br up',
      ]),
    ],
    b,
  );
  return { prefix, internetNs: inet, nodes: b.nodes, veths: b.veths, scripts: b.scripts };
}

function portsOf(b: Builder, ns: string): string[] {
  return b.veths.filter((v) => v.peerNs === ns).map((v) => v.peerIf);
}

function planServers(b: Builder, inet: string, spec: Required<LabSpec>): void {
  spec.servers.forEach((s, i) => {
    const ns = nsName(b.prefix, s.name);
    const address = `${PUBLIC_NET}.${SERVER_HOST_BASE + i}`;
    const alternate =
      s.alternateAddress === false ? undefined : `${ALTERNATE_NET}.${SERVER_HOST_BASE + i}`;
    plug(b, ns, 'eth0', inet);
    const own = alternate ? [address, alternate] : [address];
    b.nodes.push({
      name: s.name,
      kind: 'server',
      namespace: ns,
      address,
      uplink: 'eth0',
      ...(alternate ? { alternateAddress: alternate } : {}),
      ...(s.link ? { link: s.link } : {}),
    });
    endScript(
      ns,
      leafScript(
        'eth0',
        { parentNs: inet, address },
        alternate ? [alternate] : [],
        internetRoutes('eth0', own),
      ),
      b,
    );
  });
}

/** Plans every NAT; returns where hosts behind each NAT attach (LAN namespace, subnet). */
/** A NAT namespace's script: sysctls and rules first, then its links (bridge ports come later). */
function natScriptParts(
  n: NatSpec,
  att: Attachment,
  lanAddress: string,
): { head: string[]; ip: string[] } {
  const timeout = n.udpBindingTimeoutSec;
  // The binding timeout (RFC 4787 §4.3) is conntrack's, per namespace: both the unreplied and
  // the replied ("stream") UDP timeouts, so the mapping lives exactly `timeout` when idle.
  const ct =
    timeout === undefined
      ? []
      : [
          `net.netfilter.nf_conntrack_udp_timeout=${timeout}`,
          `net.netfilter.nf_conntrack_udp_timeout_stream=${timeout}`,
        ];
  const rules = natRuleset({
    behavior: NAT_PRESETS[n.preset],
    publicAddress: att.address,
    hairpinning: n.hairpinning ?? false,
    udpBlocked: n.udpBlocked ?? false,
    bindingTimeoutSec: timeout ?? LINUX_UDP_STREAM_TIMEOUT_SEC,
    wanIf: 'wan',
    lanIf: 'lan',
  });
  const routes = att.gateway
    ? [`route add default via ${att.gateway} dev wan`]
    : internetRoutes('wan', [att.address]);
  return {
    head: [
      ...sysctlLines([...baseSysctls(true), ...ct]),
      ...BRIDGE_NF_OFF,
      // Rules first, so not one packet crosses before the NAT behaves as specified.
      ...nftScript(rules),
      ...(miniupnpdOf(n) ? nftScript(miniupnpdRuleset()) : []),
    ],
    ip: [
      'link set dev lo up',
      'link add name lan type bridge forward_delay 0 stp_state 0',
      `addr add ${lanAddress}/24 dev lan`,
      `addr add ${att.address}/24 dev wan`,
      'link set dev wan up',
      'link set dev lan up',
      ...routes,
    ],
  };
}

/** The miniupnpd a NAT spec asks for, with defaults; undefined for none. */
function miniupnpdOf(n: NatSpec): { igdVersion: 1 | 2 } | undefined {
  const m = n.miniupnpd;
  if (m === undefined || m === false) return undefined;
  return { igdVersion: m === true ? 2 : (m.igdVersion ?? 2) };
}

function planNats(
  b: Builder,
  inet: string,
  spec: Required<LabSpec>,
): Map<string, { ns: string; net: string }> {
  const lans = new Map<string, { ns: string; net: string }>();
  const carriers = new Set(
    spec.nats.filter((n) => n.behind !== undefined).map((n) => n.behind as string),
  );
  spec.nats.forEach((n, k) => {
    // A carrier-grade NAT's LAN is in the shared address space 100.64.0.0/10 (RFC 6598).
    const net = carriers.has(n.name) ? `${CARRIER_NET}.${k}` : `192.168.${k + 1}`;
    lans.set(n.name, { ns: nsName(b.prefix, n.name), net });
  });
  let onInternet = 0;
  const behindCount = new Map<string, number>();
  for (const n of spec.nats) {
    const ns = nsName(b.prefix, n.name);
    const lan = lans.get(n.name)!;
    let att: Attachment;
    if (n.behind === undefined) {
      att = { parentNs: inet, address: `${PUBLIC_NET}.${NAT_WAN_HOST_BASE + onInternet++}` };
    } else {
      const parent = lans.get(n.behind)!;
      const j = behindCount.get(n.behind) ?? 0;
      behindCount.set(n.behind, j + 1);
      att = {
        parentNs: parent.ns,
        address: `${parent.net}.${LAN_NAT_BASE + j}`,
        gateway: `${parent.net}.1`,
      };
    }
    plug(b, ns, 'wan', att.parentNs);
    const lanAddress = `${lan.net}.1`;
    b.nodes.push({
      name: n.name,
      kind: 'nat',
      namespace: ns,
      address: att.address,
      lanAddress,
      preset: n.preset,
      uplink: 'wan',
      ...(miniupnpdOf(n) ? { miniupnpd: miniupnpdOf(n)! } : {}),
      ...(n.behind !== undefined ? { behind: n.behind } : {}),
      ...(n.link ? { link: n.link } : {}),
    });
    b.natParts.set(ns, natScriptParts(n, att, lanAddress));
  }
  return lans;
}

function planHosts(
  b: Builder,
  inet: string,
  spec: Required<LabSpec>,
  lans: Map<string, { ns: string; net: string }>,
): void {
  let onInternet = 0;
  const perNat = new Map<string, number>();
  for (const h of spec.hosts) {
    const ns = nsName(b.prefix, h.name);
    let att: Attachment;
    let routes: string[];
    if (h.behind === undefined) {
      att = { parentNs: inet, address: `${PUBLIC_NET}.${INTERNET_HOST_BASE + onInternet++}` };
      routes = internetRoutes('eth0', [att.address]);
    } else {
      const lan = lans.get(h.behind)!;
      const j = perNat.get(h.behind) ?? 0;
      perNat.set(h.behind, j + 1);
      att = {
        parentNs: lan.ns,
        address: `${lan.net}.${LAN_HOST_BASE + j}`,
        gateway: `${lan.net}.1`,
      };
      routes = [`route add default via ${att.gateway} dev eth0`];
    }
    plug(b, ns, 'eth0', att.parentNs);
    b.nodes.push({
      name: h.name,
      kind: 'host',
      namespace: ns,
      address: att.address,
      uplink: 'eth0',
      ...(h.behind !== undefined ? { behind: h.behind } : {}),
      ...(h.link ? { link: h.link } : {}),
    });
    endScript(ns, leafScript('eth0', att, [], routes), b);
  }
}
