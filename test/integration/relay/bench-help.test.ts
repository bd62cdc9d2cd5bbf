/**
 * `--help` on the relay and STUN benchmarks prints their usage and exits 0 before starting
 * anything: before, `stun-vs-coturn --help` ran the whole bench (coturn, natpush, a flood). Run on
 * the built benches (dist/bench, `npm run build`). Each flag a bench reads is in its usage.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../../', import.meta.url));

const BENCHES = [
  'relay-vs-coturn',
  'relay-packet-cost',
  'relay-handler-cost',
  'relay-peer-gate',
  'relay-throughput',
  'stun-vs-coturn',
];

/** The `--flag`s a bench reads: benchArg('x', …) and its local wrappers, argv.includes('--x'). */
function flagsRead(source: string): string[] {
  const flags = new Set<string>();
  for (const m of source.matchAll(/\b(?:benchArg|list|num|arg)\('([a-z0-9-]+)'/g)) flags.add(m[1]!);
  for (const m of source.matchAll(/argv\.includes\('--([a-z0-9-]+)'\)/g)) flags.add(m[1]!);
  return [...flags];
}

/**
 * One `--help` run: a Node start that loads the bench (about a second here, 7 s under load 18).
 * Without the fix the bench runs for minutes, so this still tells the two apart.
 */
const HELP_RUN_MS = 30_000;

describe.each(BENCHES)('bench %s --help', (name) => {
  // Two runs (--help, -h) one after the other, each bounded by HELP_RUN_MS: under load one test
  // took 13.7 s of the tier's 30 s, two slow starts of 20 s each would have hit vitest's timeout.
  it(
    'prints its usage, exits 0 and starts nothing',
    { timeout: 2 * HELP_RUN_MS + 10_000 },
    async () => {
      const built = `${root}dist/bench/${name}.js`;
      if (!existsSync(built)) throw new Error(`${built} is missing: run \`npm run build\` first`);
      for (const flag of ['--help', '-h']) {
        // Without the fix the bench runs for minutes: the timeout kills it and the call rejects.
        const { stdout, stderr } = await run(process.execPath, [built, flag], {
          timeout: HELP_RUN_MS,
        });
        expect(stderr).toBe('');
        expect(stdout).toContain(`node dist/bench/${name}.js`);
        // Nothing of a run: no load line, no server started.
        expect(stdout).not.toMatch(/load (before|after)|; load \d|listening on/);
        for (const f of flagsRead(readFileSync(`${root}bench/${name}.ts`, 'utf8'))) {
          expect(stdout, `--${f} in the usage`).toContain(`--${f}`);
        }
      }
    },
  );
});
