/**
 * Hard NATs across real Linux NAT (netsim presets, nat-rules.ts):
 * - the allocation pattern each preset has, as measured with a few extra bindings
 *   (allocation-probe.ts): preserving / sequential delta 1 / random;
 * - symmetric × symmetric by port prediction: port-preserving and sequential-port symmetric NATs
 *   (and one of each) get direct; random-port ones, with the same procedure, do not (control);
 * - address-dependent mapping × restricted / full cone: direct, the cone side answering the
 *   address-dependent side's real source (its mapping toward the peer's address);
 * - random-port symmetric × port-restricted by birthday probing (256 sockets, 2048 probes): one
 *   attempt here; bench/birthday.ts measures the success rate over 50.
 * Every pair has its own NATs; the lab (namespaces, processes, rules) goes in afterAll, also when
 * a test fails.
 */
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  birthdayAttempt,
  HardNatAgent,
  predictionPunch,
  startStun,
} from '../../bench/lib/hard-nat-lab.js';
import { Lab, type NatPreset } from '../../netsim/index.js';
import { requireBuiltCli } from '../support/natpush-cli.js';
import { NETSIM_REQUIREMENTS, missingPrereq } from '../support/prereq.js';

const skip = missingPrereq('netsim', NETSIM_REQUIREMENTS);

const PAIRS: [string, NatPreset, NatPreset, boolean][] = [
  ['pp', 'symmetric-preserving', 'symmetric-preserving', true],
  ['ss', 'symmetric-sequential', 'symmetric-sequential', true],
  ['sp', 'symmetric-sequential', 'symmetric-preserving', true],
  ['rr', 'symmetric', 'symmetric', false],
  ['ar', 'address-dependent', 'restricted-cone', true],
  ['af', 'address-dependent', 'full-cone', true],
  ['bd', 'symmetric', 'port-restricted', true],
];

describe.skipIf(skip)('hard NATs (netsim): prediction, address-dependent mapping, birthday', () => {
  let lab: Lab;
  let stun: { endpoint: string; child: ChildProcess };
  const agents = new Map<string, HardNatAgent>();
  const table: string[] = [];

  beforeAll(async () => {
    requireBuiltCli();
    lab = await Lab.create({
      nats: PAIRS.flatMap(([id, x, y]) => [
        { name: `${id}-l`, preset: x },
        { name: `${id}-r`, preset: y },
      ]),
      hosts: PAIRS.flatMap(([id]) => [
        { name: `${id}a`, behind: `${id}-l` },
        { name: `${id}b`, behind: `${id}-r` },
      ]),
    });
    stun = await startStun(lab);
    for (const [id] of PAIRS) {
      for (const h of [`${id}a`, `${id}b`]) agents.set(h, HardNatAgent.start(lab, h));
    }
  });

  afterAll(async () => {
    for (const a of agents.values()) a.kill();
    stun?.child.kill('SIGKILL');
    await lab?.destroy();
    process.stdout.write(['hard-NAT matrix (netsim)', ...table].join('\n') + '\n');
  });

  it.each([
    ['ppa', 'symmetric-preserving', { kind: 'preserving' }],
    ['ssa', 'symmetric-sequential', { kind: 'sequential', delta: 1 }],
    ['rra', 'symmetric', { kind: 'random' }],
    ['arb', 'restricted-cone', { kind: 'preserving' }],
    ['ara', 'address-dependent', { kind: 'random' }],
  ])('allocation measured behind %s (%s): %j', async (host, _preset, want) => {
    const r = await agents.get(host)!.ask({ measure: { server: stun.endpoint } }, 'measured');
    expect(r.pattern).toEqual(want);
  });

  it.each(PAIRS.filter(([id]) => id !== 'bd'))(
    '%s: %s × %s by prediction → direct %s',
    async (id, x, y, want) => {
      const a = agents.get(`${id}a`)!;
      const b = agents.get(`${id}b`)!;
      await Promise.all([
        a.ask({ measure: { server: stun.endpoint } }, 'measured'),
        b.ask({ measure: { server: stun.endpoint } }, 'measured'),
      ]);
      const r = await predictionPunch(a, b, stun.endpoint);
      table.push(
        `${x.padEnd(21)} × ${y.padEnd(21)} ${r.direct ? 'direct' : 'no path'} in ${r.ms} ms` +
          ` (predicted ${JSON.stringify(r.a.predicted)} / ${JSON.stringify(r.b.predicted)})`,
      );
      expect(r.direct).toBe(want);
      if (want) {
        // The path is between the two NATs' public addresses (not via anything else).
        expect(r.a.heard!.split(':')[0]).toBe(lab.address(`${id}-r`));
        expect(r.b.heard!.split(':')[0]).toBe(lab.address(`${id}-l`));
      }
    },
  );

  it('bd: symmetric × port-restricted by birthday probing → direct within 20 s', async () => {
    // One attempt succeeds with P = 99.97 % (the plan's own figure, printed below): alone, that
    // fails one CI run in ~3,300. A second attempt only if the first missed: 1 in ~10^7.
    const attempt = () =>
      birthdayAttempt(agents.get('bda')!, agents.get('bdb')!, stun.endpoint, lab.address('bd-l'));
    let r = await attempt();
    if (!r.ok) {
      process.stderr.write(`hard-nat bd: first birthday attempt missed (${r.sent} probes)\n`);
      r = await attempt();
    }
    table.push(
      `symmetric             × port-restricted       ${r.ok ? 'direct' : 'no path'} in ${r.ms} ms by birthday` +
        ` (${r.sent} probes, predicted P = ${(r.expected * 100).toFixed(2)} %)`,
    );
    expect(r.expected).toBeGreaterThan(0.999);
    expect(r.ok).toBe(true);
    expect(r.ms).toBeLessThan(20_000);
  }, 120_000);
});
