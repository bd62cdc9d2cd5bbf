/**
 * An independent referee for the presets: coturn's RFC 5780 classifier
 * (`turnutils_natdiscovery -m -f`), run from a host behind each preset against coturn's
 * `turnserver` listening on the lab server's two addresses. Nobody here wrote either program.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, NAT_PRESETS, ALL_NAT_PRESET_NAMES, type NatPreset } from '../../netsim/index.js';
import { NETSIM_REQUIREMENTS, missingPrereq } from '../support/prereq.js';

const skip = missingPrereq('netsim', {
  ...NETSIM_REQUIREMENTS,
  commands: {
    ...NETSIM_REQUIREMENTS.commands,
    turnserver: 'coturn',
    turnutils_natdiscovery: 'coturn',
  },
});

/** coturn's wording for each RFC 4787 behaviour. */
const WORDS = {
  'endpoint-independent': 'Endpoint Independent',
  'address-dependent': 'Address Dependent',
  'address-and-port-dependent': 'Address and Port Dependent',
} as const;

const HOST: Record<NatPreset, string> = {
  'full-cone': 'fc',
  'restricted-cone': 'rc',
  'port-restricted': 'pr',
  symmetric: 'sym',
  'address-dependent': 'adm',
  'symmetric-preserving': 'sympp',
  'symmetric-sequential': 'symseq',
};

describe.skipIf(skip)('netsim presets classified by coturn turnutils_natdiscovery', () => {
  let lab: Lab;
  let turn: ChildProcess;
  // coturn's pid file and user database of its own (the defaults are shared by every turnserver).
  let scratch: string | undefined;

  beforeAll(async () => {
    lab = await Lab.create({
      nats: ALL_NAT_PRESET_NAMES.map((p) => ({ name: `n-${HOST[p]}`, preset: p })),
      hosts: ALL_NAT_PRESET_NAMES.map((p) => ({ name: HOST[p], behind: `n-${HOST[p]}` })),
    });
    scratch = mkdtempSync(join(tmpdir(), 'np-coturn-presets-'));
    // STUN only: no relay, no TLS, no CLI, no config file.
    turn = lab.spawn(
      'server',
      'turnserver',
      [
        ...['-L', lab.address('server'), '-L', lab.alternateAddress('server')],
        ...[
          '--stun-only',
          '--no-tls',
          '--no-dtls',
          '--no-cli',
          '-n',
          '--log-file',
          'stdout',
          '--simple-log',
          `--pidfile=${join(scratch, 'turnserver.pid')}`,
          `--userdb=${join(scratch, 'turndb')}`,
        ],
      ],
      { stdio: 'ignore' },
    );
    // Ready once both addresses have their UDP listener on 3478.
    const deadline = Date.now() + 10_000;
    for (;;) {
      const ss = (await lab.exec('server', 'ss', ['-H', '-uln'])).stdout;
      const bound = [lab.address('server'), lab.alternateAddress('server')].every((a) =>
        ss.includes(`${a}:3478`),
      );
      if (bound) break;
      if (Date.now() > deadline) throw new Error(`turnserver did not bind: ${ss}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  });

  afterAll(async () => {
    turn?.kill('SIGKILL');
    await lab?.destroy();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it.concurrent.each(ALL_NAT_PRESET_NAMES)('%s', async (preset) => {
    const r = await lab.exec(
      HOST[preset],
      'turnutils_natdiscovery',
      ['-m', '-f', lab.address('server')],
      {
        timeoutMs: 30_000,
      },
    );
    const { mapping, filtering } = NAT_PRESETS[preset];
    expect(r.stdout).toContain(`NAT with ${WORDS[mapping]} Mapping!`);
    expect(r.stdout).toContain(`NAT with ${WORDS[filtering]} Filtering!`);
  });
});
