/**
 * What a lab is made of, as the caller writes it, and its validation. Everything here is pure.
 */
import {
  MAX_BINDING_TIMEOUT_SEC,
  MAX_DELAY_MS,
  MAX_HOSTS_PER_NAT,
  MAX_INTERNET_HOSTS,
  MAX_NATS,
  MAX_SERVERS,
  NODE_NAME_RE,
} from './constants.js';
import type { MiniupnpdOptions } from './miniupnpd.js';
import { isNatPreset, type NatPreset } from './presets.js';

/**
 * Impairments of one node's uplink (a host's or server's `eth0`, a NAT's `wan`). Each applies to
 * every packet crossing the link, in each direction: a round trip over one impaired link sees the
 * delay twice and the loss twice.
 */
export interface LinkOptions {
  /** One-way delay added in each direction, in ms. Default 0 (none). */
  delayMs?: number;
  /** Each packet's delay is uniform in delayMs ± jitterMs (so packets may be reordered). Default 0. */
  jitterMs?: number;
  /** Chance, in percent, that a packet is dropped, per direction. Default 0. */
  lossPercent?: number;
}

/** A server on the internet, e.g. a STUN server. */
export interface ServerSpec {
  name: string;
  /**
   * Give the server a second public address in 198.51.100.0/24 as well as its 203.0.113.0/24
   * one (RFC 5780 §4.1: a STUN server needs an alternate address for behaviour discovery).
   * Default true.
   */
  alternateAddress?: boolean;
  link?: LinkOptions;
}

/** A NAT router. */
export interface NatSpec {
  name: string;
  /** Mapping × filtering behaviour; see presets.ts. */
  preset: NatPreset;
  /**
   * RFC 4787 §6 hairpinning: a packet from inside to the NAT's own public address:port reaches
   * the internal endpoint holding that mapping. Default false (stock Linux NAT does not hairpin).
   */
  hairpinning?: boolean;
  /**
   * Put this NAT's WAN side on the LAN of another NAT, which then is a carrier-grade NAT: its LAN
   * is in 100.64.0.0/10 (RFC 6598). Default: on the internet.
   */
  behind?: string;
  /** A firewall that lets no UDP out (only TCP and ICMP). Default false. */
  udpBlocked?: boolean;
  /**
   * Idle time after which a UDP mapping is removed, in seconds (RFC 4787 §4.3). Default: Linux's
   * conntrack timeouts, 30 s for a flow never answered and 120 s for one that was.
   */
  udpBindingTimeoutSec?: number;
  /** Impairments of the WAN link. */
  link?: LinkOptions;
  /**
   * Run miniupnpd on this NAT (UPnP-IGD, NAT-PMP and PCP port mappings for its LAN; see
   * miniupnpd.ts), on top of the preset. `true` = IGD version 2. Default: none.
   */
  miniupnpd?: boolean | MiniupnpdOptions;
}

/** An end host: behind a NAT, or directly on the internet. */
export interface HostSpec {
  name: string;
  /** The NAT this host sits behind. Default: none, the host has a public address. */
  behind?: string;
  link?: LinkOptions;
}

export interface LabSpec {
  /** Default: one server named `server` with an alternate address. */
  servers?: ServerSpec[];
  nats?: NatSpec[];
  hosts?: HostSpec[];
}

function checkName(what: string, name: unknown, seen: Set<string>): void {
  if (typeof name !== 'string' || !NODE_NAME_RE.test(name)) {
    throw new TypeError(`netsim: ${what} name ${JSON.stringify(name)} must match ${NODE_NAME_RE}`);
  }
  if (name === 'inet') throw new TypeError(`netsim: the name "inet" is reserved for the internet`);
  if (seen.has(name)) throw new TypeError(`netsim: node name "${name}" is used twice`);
  seen.add(name);
}

function checkRange(what: string, v: number | undefined, min: number, max: number): void {
  if (v === undefined) return;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
    throw new RangeError(`netsim: ${what} must be a number in [${min}, ${max}], got ${v}`);
  }
}

export function validateLink(what: string, link: LinkOptions | undefined): void {
  if (link === undefined) return;
  checkRange(`${what} delayMs`, link.delayMs, 0, MAX_DELAY_MS);
  checkRange(`${what} jitterMs`, link.jitterMs, 0, MAX_DELAY_MS);
  checkRange(`${what} lossPercent`, link.lossPercent, 0, 100);
  if ((link.jitterMs ?? 0) > (link.delayMs ?? 0)) {
    throw new RangeError(`netsim: ${what} jitterMs must not exceed delayMs`);
  }
}

function checkNats(nats: NatSpec[], seen: Set<string>): void {
  if (nats.length > MAX_NATS) throw new RangeError(`netsim: at most ${MAX_NATS} NATs`);
  for (const n of nats) {
    checkName('NAT', n.name, seen);
    if (!isNatPreset(n.preset)) {
      throw new TypeError(`netsim: NAT "${n.name}" has unknown preset ${JSON.stringify(n.preset)}`);
    }
    checkRange(
      `NAT "${n.name}" udpBindingTimeoutSec`,
      n.udpBindingTimeoutSec,
      1,
      MAX_BINDING_TIMEOUT_SEC,
    );
    validateLink(`NAT "${n.name}"`, n.link);
    const m = n.miniupnpd;
    if (m !== undefined && typeof m !== 'boolean') {
      if (typeof m !== 'object' || m === null || ![undefined, 1, 2].includes(m.igdVersion)) {
        throw new TypeError(`netsim: NAT "${n.name}" miniupnpd.igdVersion must be 1 or 2`);
      }
    }
  }
  const byName = new Map(nats.map((n) => [n.name, n]));
  for (const n of nats) {
    if (n.behind === undefined) continue;
    const parent = byName.get(n.behind);
    if (!parent) throw new TypeError(`netsim: NAT "${n.name}" is behind unknown NAT "${n.behind}"`);
    // One level of carrier-grade NAT is what the world has; deeper chains would need more
    // address plan than 100.64.0.0/10 /24s and nobody asked for them.
    if (parent.behind !== undefined) {
      throw new TypeError(
        `netsim: NAT "${n.behind}" is itself behind a NAT; one level of CGN only`,
      );
    }
  }
}

/** Throws TypeError/RangeError on a malformed spec (programmer misuse, STYLE.md §7). */
export function validateSpec(spec: LabSpec): void {
  if (typeof spec !== 'object' || spec === null)
    throw new TypeError('netsim: spec must be an object');
  const seen = new Set<string>();
  const servers = spec.servers ?? [];
  if (servers.length > MAX_SERVERS) throw new RangeError(`netsim: at most ${MAX_SERVERS} servers`);
  for (const s of servers) {
    checkName('server', s.name, seen);
    validateLink(`server "${s.name}"`, s.link);
  }
  const nats = spec.nats ?? [];
  checkNats(nats, seen);
  const natNames = new Set(nats.map((n) => n.name));
  const perNat = new Map<string, number>();
  let internetHosts = 0;
  for (const h of spec.hosts ?? []) {
    checkName('host', h.name, seen);
    validateLink(`host "${h.name}"`, h.link);
    if (h.behind === undefined) {
      internetHosts++;
      continue;
    }
    if (!natNames.has(h.behind)) {
      throw new TypeError(`netsim: host "${h.name}" is behind unknown NAT "${h.behind}"`);
    }
    perNat.set(h.behind, (perNat.get(h.behind) ?? 0) + 1);
  }
  if (internetHosts > MAX_INTERNET_HOSTS) {
    throw new RangeError(`netsim: at most ${MAX_INTERNET_HOSTS} hosts on the internet`);
  }
  for (const [nat, n] of perNat) {
    if (n > MAX_HOSTS_PER_NAT)
      throw new RangeError(`netsim: at most ${MAX_HOSTS_PER_NAT} hosts behind "${nat}"`);
  }
}

/** The spec with defaults filled in. */
export function normalizeSpec(spec: LabSpec): Required<LabSpec> {
  if (typeof spec !== 'object' || spec === null)
    throw new TypeError('netsim: spec must be an object');
  const full = {
    servers: spec.servers ?? [{ name: 'server', alternateAddress: true }],
    nats: spec.nats ?? [],
    hosts: spec.hosts ?? [],
  };
  validateSpec(full);
  return full;
}
