/**
 * A NatReport in words a person can act on (pure; the CLI prints it).
 */
import type { Endpoint } from '../net/udp.js';
import type { Dependence, NatKind } from './nat-classify.js';
import type { NatReport } from './nat-discovery.js';
import { escapeTerminalText } from '../util/terminal-text.js';

const MAPPING_WORDS: Record<Dependence, string> = {
  'endpoint-independent': 'same public address:port for every destination',
  'address-dependent': 'a new public port for each destination address',
  'address-and-port-dependent': 'a new public port for each destination address and port',
  unknown: 'not determined',
};

const FILTERING_WORDS: Record<Dependence, string> = {
  'endpoint-independent': 'anyone may send to an open mapping',
  'address-dependent': 'only hosts you have sent to may reply, from any port',
  'address-and-port-dependent': 'only the exact address:port you sent to may reply',
  unknown: 'not determined',
};

const KIND_WORDS: Record<NatKind, string> = {
  open: 'no NAT, no filtering (open internet)',
  'full-cone': 'full cone NAT',
  'restricted-cone': 'restricted cone NAT',
  'port-restricted': 'port-restricted cone NAT',
  symmetric: 'symmetric NAT',
  'udp-blocked': 'UDP blocked',
  other: 'NAT with mixed behaviour',
};

/**
 * Text that came from the network — a router's UPnP fault description and URLs (a LAN device
 * answers SSDP: a stranger), its external address — is shown with every control, bidi and line
 * break character as a visible escape (util/terminal-text.ts, as for notifications): printed
 * raw, an ESC sequence could rewrite the report or the terminal.
 */
export const shown = escapeTerminalText;

function ep(e: Endpoint): string {
  const a = shown(e.address);
  return a.includes(':') ? `[${a}]:${e.port}` : `${a}:${e.port}`;
}

function advice(r: NatReport): string[] {
  switch (r.kind) {
    case 'open':
      return ['Reachable directly: peers can reach this host without hole punching.'];
    case 'full-cone':
    case 'restricted-cone':
      return ['Hole punching works with every kind of peer; no relay needed.'];
    case 'port-restricted':
      return [
        'Hole punching works with most peers; natpush relays only to peers behind symmetric NAT.',
        'To reach those directly too, enable UPnP-IGD / NAT-PMP / PCP on the router.',
      ];
    case 'symmetric':
      return [
        'This NAT opens a new public port per destination, so peers cannot predict it:',
        'peers behind port-restricted or symmetric NATs will go through the TURN relay.',
        'To fix: enable UPnP-IGD / NAT-PMP / PCP on the router, or ask for endpoint-independent',
        'mapping (RFC 4787 REQ-1); behind carrier-grade NAT, ask the provider for IPv6 or a public IP.',
      ];
    case 'udp-blocked':
      return [
        'No UDP gets out: natpush will use the TURN relay over TCP, or deliver through the',
        'signaling server (WebSocket / SSE / long-poll). Allow outbound UDP for direct paths.',
      ];
    default:
      return [
        r.outlook.relay.length === 0
          ? 'Hole punching should work with every kind of peer.'
          : `Expect the relay with ${r.outlook.relay.join(', ')} peers.`,
      ];
  }
}

/** What port mapping and the allocation pattern change about the outlook above (issue 11). */
function hardNatAdvice(r: NatReport): string[] {
  const out: string[] = [];
  const g = r.portMapping?.granted;
  if (g) {
    out.push(
      `The router grants port mappings (${g.via}): through the mapped address, peers of every`,
      'kind can reach this host directly, whatever the NAT type says below.',
    );
  }
  const a = r.allocation?.pattern;
  if (r.mapping === 'address-and-port-dependent' && a && a.kind !== 'random') {
    out.push(
      `Port allocation is ${a.kind}: port prediction can get symmetric peers with predictable`,
      'NATs direct, and birthday probing port-restricted and restricted-cone peers.',
    );
  } else if (r.mapping === 'address-and-port-dependent' && a?.kind === 'random') {
    out.push(
      'Random ports: birthday probing (256 sockets) can get port-restricted and restricted-cone',
      'peers direct; symmetric peers need a port mapping on one side, or the relay.',
    );
  }
  return out;
}

export function formatNatReport(r: NatReport): string {
  const lines: string[] = [];
  const row = (k: string, v: string): number => lines.push(`  ${k.padEnd(16)}${v}`);
  const ok = r.servers.filter((s) => s.mapped);
  lines.push(`natpush nat-check: ${r.servers.length} server(s), ${ok.length} answered`);
  for (const s of r.servers) {
    const extra = s.mapped
      ? `answered in ${s.rttMs} ms${s.otherAddress ? `, RFC 5780 other address ${ep(s.otherAddress)}` : ''}`
      : shown(s.error ?? 'no answer');
    lines.push(`  server ${ep(s.server)}: ${extra}`);
  }
  lines.push('');
  row('UDP', r.udp ? 'gets out' : 'BLOCKED');
  if (r.tcp !== undefined) row('TCP', r.tcp ? 'gets out' : 'no answer');
  if (r.mapped) {
    row(
      'Public address',
      `${ep(r.mapped)} (local port ${r.local.port}${r.behindNat ? ', behind NAT' : ', no NAT'})`,
    );
  }
  if (r.udp) {
    row('Mapping', `${r.mapping} — ${MAPPING_WORDS[r.mapping]}`);
    row('Filtering', `${r.filtering} — ${FILTERING_WORDS[r.filtering]}`);
    if (r.portPreservation !== undefined) row('Port preserved', r.portPreservation ? 'yes' : 'no');
    if (r.hairpinning !== undefined) {
      row(
        'Hairpinning',
        r.hairpinning ? 'yes' : 'no — peers behind this same NAT must use local addresses',
      );
    }
    if (r.mappingVariesByServer)
      row('Varies by server', 'yes — different servers saw different public ports');
  }
  if (r.lifetime) {
    const { aliveMs, goneMs } = r.lifetime;
    const alive =
      aliveMs !== undefined ? `alive after ${aliveMs / 1000} s` : 'gone before the first step';
    const gone =
      goneMs !== undefined ? `, gone after ${goneMs / 1000} s` : ', never expired in the test';
    const keep =
      aliveMs !== undefined ? ` — send keepalives more often than every ${aliveMs / 1000} s` : '';
    row('Binding life', alive + gone + keep);
  }
  if (r.allocation) {
    const a = r.allocation.pattern;
    row(
      'Port allocation',
      a.kind === 'preserving'
        ? 'preserving — a new mapping keeps the local port (predictable)'
        : a.kind === 'sequential'
          ? `sequential, delta ${a.delta} — the next mapping is the last + ${a.delta} (predictable)`
          : 'random — not predictable (birthday probing or a port mapping gets through)',
    );
  }
  if (r.portMapping) {
    const pm = r.portMapping;
    const offered = Object.entries(pm.offered).map(([k, o]) => `${k} ${o.ok ? 'yes' : 'no'}`);
    row('Port mapping', offered.length ? offered.join(', ') : 'not tried');
    if (pm.granted) {
      row(
        'Mapping granted',
        `${ep(pm.granted.external)} by ${pm.granted.via} in ${pm.granted.ms} ms, lifetime ${pm.granted.lifetimeSec} s (deleted again)`,
      );
    } else if (pm.error) {
      row('Mapping granted', `none — ${shown(pm.error.message)}`);
    }
  }
  row('NAT type', KIND_WORDS[r.kind]);
  lines.push('');
  row('Direct UDP to', r.outlook.direct.length ? `${r.outlook.direct.join(', ')} peers` : 'nobody');
  row(
    'Relay needed',
    r.outlook.relay.length ? `with ${r.outlook.relay.join(', ')} peers` : 'never',
  );
  lines.push('');
  for (const a of [...hardNatAdvice(r), ...advice(r)]) lines.push(`  ${a}`);
  for (const n of r.notes) lines.push(`  note: ${shown(n)}`);
  return lines.join('\n');
}
