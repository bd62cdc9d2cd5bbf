/**
 * The README shows what `natpush nat-check` and `natpush ping` print. nat-check's text comes from
 * one pure formatter: it is fed the facts the README's example describes and must print the
 * README's block line for line. (A real run behind each netsim preset is test/netsim/nat-check.test.ts.)
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatNatReport, punchOutlook } from '../../../src/stun/index.js';
import type { NatReport } from '../../../src/stun/index.js';
import { REPO, readmeBlock } from './readme.js';

const ep = (address: string, port: number) => ({ address, port });
const sym = {
  mapping: 'address-and-port-dependent',
  filtering: 'address-and-port-dependent',
} as const;

/** The symmetric NAT of the README's example, as nat-check measures it behind netsim's preset. */
const symmetric: NatReport = {
  servers: [
    {
      server: ep('203.0.113.10', 3478),
      mapped: ep('203.0.113.100', 1900),
      rttMs: 20,
      otherAddress: ep('198.51.100.10', 3479),
    },
  ],
  udp: true,
  tcp: true,
  local: { address: '0.0.0.0', port: 56350 },
  mapped: ep('203.0.113.100', 1900),
  behindNat: true,
  ...sym,
  portPreservation: false,
  hairpinning: false,
  kind: 'symmetric',
  outlook: punchOutlook({ ...sym, udp: true }),
  notes: [],
};

describe('README: natpush nat-check output', () => {
  it('the symmetric-NAT example is what the formatter prints for those facts', () => {
    expect(formatNatReport(symmetric)).toBe(readmeBlock('nat-check-output').trimEnd());
  });

  it('the port-allocation and port-mapping lines are lines it prints', () => {
    const text = formatNatReport({
      ...symmetric,
      allocation: { pattern: { kind: 'sequential', delta: 1 }, samples: [] },
      portMapping: {
        offered: { pcp: { ok: true }, natpmp: { ok: true }, upnp: { ok: true } },
        granted: {
          via: 'pcp',
          external: ep('203.0.113.100', 53941),
          lifetimeSec: 7200,
          ms: 22,
        },
      },
    }).split('\n');
    const shown = readmeBlock('nat-check-portmap-output').trimEnd().split('\n');
    expect(shown.length).toBe(3);
    for (const line of shown) expect(text).toContain(line);
  });
});

describe('README: natpush ping output', () => {
  // The line shapes src/cli/commands/ping.ts prints in text mode, and the literal parts of each.
  const shapes: [RegExp, string[]][] = [
    [
      /^pong from [a-z2-7]{32} via (server-routed|relay|direct) in \d+ ms( \(was (server-routed|relay|direct)\))?$/,
      ['pong from ', ' via ', ' ms', ' (was '],
    ],
    [
      /^punched a (direct|relay) path to [a-z2-7]{32} \(check round trip \d+ ms\)$/,
      ['punched a ', ' path to ', ' (check round trip '],
    ],
  ];
  const src = readFileSync(join(REPO, 'src/cli/commands/ping.ts'), 'utf8');

  it('every line the README shows has a shape the command prints', () => {
    const [cmd, ...lines] = readmeBlock('ping-output').trimEnd().split('\n');
    expect(cmd).toMatch(/^\$ (?:npx )?natpush ping [a-z2-7]{32}$/);
    expect(lines.length).toBeGreaterThan(2);
    for (const line of lines)
      expect(
        shapes.some(([re]) => re.test(line)),
        line,
      ).toBe(true);
    for (const [, parts] of shapes) for (const p of parts) expect(src).toContain(p);
  });
});
