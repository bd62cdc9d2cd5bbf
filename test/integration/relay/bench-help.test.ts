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

describe.each(BENCHES)('bench %s --help', (name) => {
  it('prints its usage, exits 0 and starts nothing', async () => {
    const built = `${root}dist/bench/${name}.js`;
    if (!existsSync(built)) throw new Error(`${built} is missing: run \`npm run build\` first`);
    for (const flag of ['--help', '-h']) {
      // Without the fix the bench runs for minutes: the timeout kills it and the call rejects.
      const { stdout, stderr } = await run(process.execPath, [built, flag], { timeout: 20_000 });
      expect(stderr).toBe('');
      expect(stdout).toContain(`node dist/bench/${name}.js`);
      // Nothing of a run: no load line, no server started.
      expect(stdout).not.toMatch(/load (before|after)|; load \d|listening on/);
      for (const f of flagsRead(readFileSync(`${root}bench/${name}.ts`, 'utf8'))) {
        expect(stdout, `--${f} in the usage`).toContain(`--${f}`);
      }
    }
  });
});
