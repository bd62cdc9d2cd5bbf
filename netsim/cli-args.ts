/**
 * The CLI's lab language, parsed at the edge into a `LabSpec` (STYLE.md §5). Pure.
 *
 *   --host a:symmetric            host a behind its own symmetric NAT "a-nat"
 *   --host b:full-cone,hairpin    options: hairpin, cgn, udp-blocked, timeout=SEC, upnp, upnp1
 *                                 (upnp: the NAT runs miniupnpd, IGD v2; upnp1: IGD v1)
 *   --host c@a                    host c behind the same NAT as host a
 *   --host d:public               host d directly on the internet
 *   --delay 20ms --jitter 2ms --loss 1%    impair every host's link (each direction)
 *
 * `cgn` puts the host's NAT behind a shared carrier-grade NAT named "cgn".
 */
import { COMMON_ERR, NatpushError } from '../src/util/errors.js';
import { MAX_BINDING_TIMEOUT_SEC } from './constants.js';
import { ALL_NAT_PRESET_NAMES, isNatPreset, type NatPreset } from './presets.js';
import type { HostSpec, LabSpec, LinkOptions, NatSpec } from './spec.js';

export interface CliLabArgs {
  host: string[];
  server?: string[];
  delay?: string;
  jitter?: string;
  loss?: string;
  /** Preset of the shared carrier-grade NAT. Default port-restricted. */
  cgnPreset?: string;
}

export const CGN_NAME = 'cgn';
const MAX_NATED_HOST_NAME = 11;

function usage(message: string): NatpushError {
  return new NatpushError(COMMON_ERR.USAGE, message);
}

/** "20ms", "1.5s", "20" (ms) → milliseconds. */
export function parseDurationMs(s: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(s.trim());
  if (!m) throw usage(`not a duration: ${JSON.stringify(s)} (try 20ms or 1s)`);
  return Number(m[1]) * (m[2] === 's' ? 1000 : 1);
}

/** "1%", "0.5%", "1" (percent) → percent. */
export function parsePercent(s: string): number {
  const m = /^(\d+(?:\.\d+)?)%?$/.exec(s.trim());
  if (!m) throw usage(`not a percentage: ${JSON.stringify(s)} (try 1%)`);
  const v = Number(m[1]);
  if (v > 100) throw usage(`loss over 100%: ${s}`);
  return v;
}

interface ParsedHost {
  name: string;
  kind: 'nat' | 'public' | 'same-as';
  preset?: NatPreset;
  sameAs?: string;
  hairpinning: boolean;
  cgn: boolean;
  udpBlocked: boolean;
  timeoutSec?: number;
  /** miniupnpd on the host's NAT, with this IGD version. */
  upnp?: 1 | 2;
}

function parseOptions(h: ParsedHost, opts: string[], arg: string): void {
  for (const o of opts) {
    if (o === 'hairpin') h.hairpinning = true;
    else if (o === 'cgn') h.cgn = true;
    else if (o === 'udp-blocked') h.udpBlocked = true;
    else if (o === 'upnp') h.upnp = 2;
    else if (o === 'upnp1') h.upnp = 1;
    else if (o.startsWith('timeout=')) {
      const sec =
        parseDurationMs(o.slice('timeout='.length).replace(/^(\d+(?:\.\d+)?)$/, '$1s')) / 1000;
      if (sec < 1 || sec > MAX_BINDING_TIMEOUT_SEC) throw usage(`timeout out of range in ${arg}`);
      h.timeoutSec = Math.round(sec);
    } else
      throw usage(
        `unknown host option "${o}" in ${arg} (hairpin, cgn, udp-blocked, timeout=SEC, upnp, upnp1)`,
      );
  }
}

export function parseHostArg(arg: string): ParsedHost {
  const same = /^([a-z][a-z0-9-]*)@([a-z][a-z0-9-]*)$/.exec(arg);
  if (same) {
    return {
      name: same[1]!,
      kind: 'same-as',
      sameAs: same[2]!,
      hairpinning: false,
      cgn: false,
      udpBlocked: false,
    };
  }
  const m = /^([a-z][a-z0-9-]*):([a-z-]+)((?:,[a-z0-9=.-]+)*)$/.exec(arg);
  if (!m)
    throw usage(
      `--host wants NAME:PRESET[,opt...], NAME:public or NAME@OTHER, got ${JSON.stringify(arg)}`,
    );
  const [, name, what, rest] = m as unknown as [string, string, string, string];
  // The host's NAT is "<name>-nat", and node names have at most 15 characters.
  if (what !== 'public' && name.length > MAX_NATED_HOST_NAME) {
    throw usage(
      `host name "${name}" is too long for a NATed host (at most ${MAX_NATED_HOST_NAME} characters)`,
    );
  }
  const h: ParsedHost = { name, kind: 'nat', hairpinning: false, cgn: false, udpBlocked: false };
  if (what === 'public') h.kind = 'public';
  else if (isNatPreset(what)) h.preset = what;
  else
    throw usage(
      `unknown preset "${what}" in ${arg}; one of: ${ALL_NAT_PRESET_NAMES.join(', ')}, public`,
    );
  parseOptions(h, rest === '' ? [] : rest.slice(1).split(','), arg);
  if (
    h.kind === 'public' &&
    (h.hairpinning || h.cgn || h.udpBlocked || h.timeoutSec !== undefined || h.upnp !== undefined)
  ) {
    throw usage(`a public host has no NAT options: ${arg}`);
  }
  return h;
}

function natFor(h: ParsedHost): NatSpec {
  return {
    name: `${h.name}-nat`,
    preset: h.preset!,
    ...(h.hairpinning ? { hairpinning: true } : {}),
    ...(h.cgn ? { behind: CGN_NAME } : {}),
    ...(h.udpBlocked ? { udpBlocked: true } : {}),
    ...(h.timeoutSec !== undefined ? { udpBindingTimeoutSec: h.timeoutSec } : {}),
    ...(h.upnp !== undefined ? { miniupnpd: { igdVersion: h.upnp } } : {}),
  };
}

function linkOf(a: CliLabArgs): LinkOptions | undefined {
  const link: LinkOptions = {};
  if (a.delay !== undefined) link.delayMs = parseDurationMs(a.delay);
  if (a.jitter !== undefined) link.jitterMs = parseDurationMs(a.jitter);
  if (a.loss !== undefined) link.lossPercent = parsePercent(a.loss);
  return Object.keys(link).length > 0 ? link : undefined;
}

/** CLI arguments → LabSpec. Throws NATPUSH_ERR_USAGE on bad input. */
export function labSpecFromArgs(a: CliLabArgs): LabSpec {
  if (a.host.length === 0) throw usage('give at least one --host');
  const parsed = a.host.map(parseHostArg);
  const byName = new Map(parsed.map((h) => [h.name, h]));
  const nats: NatSpec[] = [];
  if (parsed.some((h) => h.cgn)) {
    const preset = a.cgnPreset ?? 'port-restricted';
    if (!isNatPreset(preset)) throw usage(`unknown --cgn-preset "${preset}"`);
    nats.push({ name: CGN_NAME, preset });
  }
  const link = linkOf(a);
  const hosts: HostSpec[] = [];
  for (const h of parsed) {
    let behind: string | undefined;
    if (h.kind === 'nat') {
      nats.push(natFor(h));
      behind = `${h.name}-nat`;
    } else if (h.kind === 'same-as') {
      const other = byName.get(h.sameAs!);
      if (!other || other.kind !== 'nat')
        throw usage(`--host ${h.name}@${h.sameAs}: ${h.sameAs} is not a NATed host`);
      behind = `${other.name}-nat`;
    }
    hosts.push({ name: h.name, ...(behind ? { behind } : {}), ...(link ? { link } : {}) });
  }
  const servers = (a.server ?? ['server']).map((name) => ({ name, alternateAddress: true }));
  return { servers, nats, hosts };
}
