/**
 * `natpush nat-check` from a host behind each netsim NAT preset (real Linux NAT), plus behind a
 * home NAT behind carrier-grade NAT, behind a UDP-blocking firewall, and with a short binding
 * timeout: the report names exactly the lab's behaviour. Our `natpush stun` runs as the RFC 5780
 * server on the lab's server (two addresses, two ports).
 */
import type { ChildProcess } from 'node:child_process';
import readline from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab } from '../../netsim/index.js';
import type { NatReport } from '../../src/stun/index.js';
import { requireBuiltCli } from '../support/natpush-cli.js';
import { NETSIM_REQUIREMENTS, missingPrereq } from '../support/prereq.js';

const skip = missingPrereq('netsim', NETSIM_REQUIREMENTS);

const CASES = [
  // host, expected kind, mapping, filtering, port preservation
  ['fc', 'full-cone', 'endpoint-independent', 'endpoint-independent', true],
  ['rc', 'restricted-cone', 'endpoint-independent', 'address-dependent', true],
  ['pr', 'port-restricted', 'endpoint-independent', 'address-and-port-dependent', true],
  ['sym', 'symmetric', 'address-and-port-dependent', 'address-and-port-dependent', false],
  // full-cone home NAT behind a port-restricted CGN: the CGN's filtering wins.
  ['cg', 'port-restricted', 'endpoint-independent', 'address-and-port-dependent', true],
] as const;

describe.skipIf(skip)('natpush nat-check behind real NATs (netsim)', () => {
  let lab: Lab | undefined;
  let server: ChildProcess | undefined;
  let cli: string;
  const reports = new Map<string, Promise<NatReport>>();

  beforeAll(async () => {
    cli = requireBuiltCli();
    lab = await Lab.create({
      nats: [
        { name: 'nfc', preset: 'full-cone' },
        { name: 'nrc', preset: 'restricted-cone' },
        { name: 'npr', preset: 'port-restricted' },
        { name: 'nsym', preset: 'symmetric' },
        { name: 'cgn', preset: 'port-restricted' },
        { name: 'home', preset: 'full-cone', behind: 'cgn' },
        { name: 'blk', preset: 'port-restricted', udpBlocked: true },
        { name: 'short', preset: 'port-restricted', udpBindingTimeoutSec: 8 },
        { name: 'nhp', preset: 'port-restricted', hairpinning: true },
      ],
      hosts: [
        { name: 'fc', behind: 'nfc' },
        { name: 'rc', behind: 'nrc' },
        { name: 'pr', behind: 'npr' },
        { name: 'sym', behind: 'nsym' },
        { name: 'cg', behind: 'home' },
        { name: 'ub', behind: 'blk' },
        { name: 'lt', behind: 'short' },
        { name: 'hp', behind: 'nhp' },
      ],
    });
    const a1 = lab.address('server');
    const a2 = lab.node('server').alternateAddress!;
    server = lab.spawn(
      'server',
      process.execPath,
      [cli, 'stun', '--listen', `${a1}:3478`, '--alternate', `${a2}:3479`],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    await new Promise<void>((resolve, reject) => {
      const rl = readline.createInterface({ input: server!.stdout! });
      rl.on('line', (l) => l.includes('listening') && resolve());
      server!.once('exit', (code) => reject(new Error(`natpush stun exited with ${code}`)));
    });
    // All checks at once: each takes a few seconds of probe timeouts; the lifetime one ~25 s.
    const run = async (host: string, extra: string[] = []): Promise<NatReport> => {
      const r = await lab!.exec(
        host,
        process.execPath,
        [cli, 'nat-check', '--server', `${a1}:3478`, '--json', ...extra],
        {
          timeoutMs: 50_000,
        },
      );
      if (r.code !== 0) throw new Error(`nat-check in ${host} failed (${r.code}): ${r.stderr}`);
      return JSON.parse(r.stdout) as NatReport;
    };
    for (const [host] of CASES) reports.set(host, run(host));
    reports.set('ub', run('ub'));
    reports.set('hp', run('hp'));
    reports.set('lt', run('lt', ['--lifetime', '20']));
    for (const p of reports.values()) p.catch(() => {}); // awaited by the tests
  });

  afterAll(async () => {
    await Promise.allSettled(reports.values());
    await lab?.destroy();
  });

  it.each(CASES)(
    'behind %s: %s (%s mapping, %s filtering)',
    async (host, kind, mapping, filtering, preserved) => {
      const r = await reports.get(host)!;
      expect(r).toMatchObject({
        udp: true,
        behindNat: true,
        kind,
        mapping,
        filtering,
        hairpinning: false,
      });
      expect(r.mapped!.address).toBe(lab!.address(host === 'cg' ? 'cgn' : `n${host}`));
      if (preserved) expect(r.portPreservation).toBe(true);
      else expect(r.portPreservation).toBe(false);
    },
  );

  it('behind a NAT with hairpinning (RFC 4787 §6): our own request comes back to us', async () => {
    const r = await reports.get('hp')!;
    expect(r).toMatchObject({ kind: 'port-restricted', hairpinning: true });
  });

  it('behind a UDP-blocking firewall: UDP blocked, TCP works, relay with everyone', async () => {
    const r = await reports.get('ub')!;
    expect(r).toMatchObject({ udp: false, tcp: true, kind: 'udp-blocked' });
    expect(r.outlook.direct).toEqual([]);
  });

  it('measures the binding lifetime of a NAT with an 8 s UDP timeout: alive at 5 s, gone by 10 s', async () => {
    const r = await reports.get('lt')!;
    expect(r.kind).toBe('port-restricted');
    expect(r.lifetime).toEqual({ aliveMs: 5_000, goneMs: 10_000 });
  }, 60_000);
});
