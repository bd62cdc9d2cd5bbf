/**
 * A lab's life: up fast, isolated, cleaned up on destroy, on exit, on a signal and — after a
 * crash — by `natpush netsim down --all`; and the CLI (`up`, `ls`, `exec`, `down`).
 * The CLI runs from dist/ (`npm test` builds first; built here if missing). Every CLI call uses
 * its own --state-dir, so `down --all` here never touches anyone else's labs.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab } from '../../netsim/index.js';
import { NETSIM_REQUIREMENTS, missingPrereq } from '../support/prereq.js';

const skip = missingPrereq('netsim', NETSIM_REQUIREMENTS);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(ROOT, 'dist/src/cli/main.js');
const LIB = join(ROOT, 'dist/netsim/index.js');
const TAG = process.env.NATPUSH_NETSIM_TAG ?? 'local';

function namespaces(prefix: string): string[] {
  const out = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  return out
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n.startsWith(`${prefix}-`));
}

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      'node',
      [CLI, ...args],
      { encoding: 'utf8', timeout: 30_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** A child process that builds a lab with the library, prints its prefix, then `then`s. */
function childLab(
  stateDir: string,
  then: 'exit' | 'wait',
): Promise<{ prefix: string; pid: number; done: Promise<void> }> {
  const code = `
    const { Lab } = await import(${JSON.stringify(LIB)});
    const lab = await Lab.create({ nats: [{ name: 'n', preset: 'symmetric' }], hosts: [{ name: 'a', behind: 'n' }] },
      { stateDir: ${JSON.stringify(stateDir)} });
    process.stdout.write(lab.prefix + '\\n');
    ${then === 'exit' ? 'process.exit(0);' : 'setInterval(() => {}, 1000);'}
  `;
  const child = spawn('node', ['--input-type=module', '-e', code], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const done = new Promise<void>((r) => child.once('exit', () => r()));
  return new Promise((resolve, reject) => {
    child.stdout.once('data', (d: Buffer) =>
      resolve({ prefix: d.toString().trim(), pid: child.pid!, done }),
    );
    child.once('exit', (c) => reject(new Error(`child exited ${c} before its lab was up`)));
  });
}

describe.skipIf(skip)('netsim lab lifecycle and CLI', () => {
  let stateDir: string;

  beforeAll(() => {
    if (!existsSync(CLI) || !existsSync(LIB)) {
      execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });
    }
    stateDir = mkdtempSync(join(tmpdir(), 'natpush-netsim-state-'));
  });

  afterAll(async () => {
    // Whatever a failed test left in our private state dir goes.
    await Lab.destroyAll({ stateDir, force: true });
    rmSync(stateDir, { recursive: true, force: true });
  });

  // How fast (issue 2: "up in under a second") is bench/netsim-lab.ts's figure, printed with the
  // load average, not an assertion: on a loaded 2-core machine the `ip`/`nft` processes that
  // build a lab wait for a CPU like everything else (NETSIM-NOTES: 0.2–0.65 s on an idle one).
  it('a two-NAT lab comes up isolated and is gone after destroy', async () => {
    const rootLinks = execFileSync('ip', ['-o', 'link'], { encoding: 'utf8' });
    const t0 = performance.now();
    const lab = await Lab.create(
      {
        nats: [
          { name: 'n1', preset: 'symmetric' },
          { name: 'n2', preset: 'port-restricted' },
        ],
        hosts: [
          { name: 'a', behind: 'n1' },
          { name: 'b', behind: 'n2' },
        ],
      },
      { stateDir },
    );
    const upMs = performance.now() - t0;
    try {
      process.stderr.write(`netsim: two-NAT lab up in ${upMs.toFixed(0)} ms\n`);
      expect(namespaces(lab.prefix)).toHaveLength(6);
      // Nothing was added to the root namespace.
      expect(execFileSync('ip', ['-o', 'link'], { encoding: 'utf8' })).toBe(rootLinks);
      // No namespace routes anywhere but the lab's prefixes: a real address is unreachable.
      for (const n of lab.nodes()) {
        const routes = (await lab.exec(n.name, 'ip', ['-4', 'route'])).stdout;
        for (const line of routes.trim().split('\n')) {
          expect(line).toMatch(
            /^(default via (192\.168|100\.6[4-9]|100\.\d+)\.|203\.0\.113\.0\/24|198\.51\.100\.0\/24|192\.168\.\d+\.0\/24|100\.\d+\.\d+\.0\/24)/,
          );
        }
        const out = await lab.exec(n.name, 'ip', ['route', 'get', '8.8.8.8']);
        if (n.behind === undefined) expect(out.code).not.toBe(0);
      }
    } finally {
      await lab.destroy();
    }
    expect(namespaces(lab.prefix)).toEqual([]);
    expect(readdirSync(stateDir)).toEqual([]);
  });

  it('removes the lab when its process exits without destroy(), or gets SIGTERM', async () => {
    const exited = await childLab(stateDir, 'exit');
    await exited.done;
    expect(namespaces(exited.prefix)).toEqual([]);
    const termed = await childLab(stateDir, 'wait');
    expect(namespaces(termed.prefix).length).toBeGreaterThan(0);
    process.kill(termed.pid, 'SIGTERM');
    await termed.done;
    expect(namespaces(termed.prefix)).toEqual([]);
  });

  it('after a crash (SIGKILL), `natpush netsim down --all` removes the lab', async () => {
    const crashed = await childLab(stateDir, 'wait');
    process.kill(crashed.pid, 'SIGKILL');
    await crashed.done;
    expect(namespaces(crashed.prefix).length).toBeGreaterThan(0);
    const ls = await cli(['netsim', 'ls', '--state-dir', stateDir]);
    expect(ls.stdout).toMatch(/orphaned/);
    const down = await cli(['netsim', 'down', '--all', '--state-dir', stateDir]);
    expect(down.code).toBe(0);
    expect(namespaces(crashed.prefix)).toEqual([]);
  });

  it('CLI: up, ls, exec, down; typed errors', async () => {
    const name = `${TAG}-cli`;
    const up = await cli([
      'netsim',
      'up',
      name,
      '--host',
      'a:symmetric',
      '--host',
      'b:full-cone,cgn',
      '--host',
      'c@a',
      '--state-dir',
      stateDir,
    ]);
    expect(up.stderr).toBe('');
    expect(up.code).toBe(0);
    expect(up.stdout).toMatch(/lab .* up in \d+ ms/);
    try {
      // inet, server, cgn, a-nat, b-nat, a, b, c
      expect(namespaces(`np-${name}`)).toHaveLength(8);
      const ls = await cli(['netsim', 'ls', '--state-dir', stateDir]);
      expect(ls.stdout).toContain(name);
      const ex = await cli([
        'netsim',
        'exec',
        name,
        'c',
        '--state-dir',
        stateDir,
        '--',
        'ip',
        '-4',
        '-o',
        'addr',
        'show',
        'eth0',
      ]);
      expect(ex.stdout).toContain('192.168.2.11/24');
      const fail = await cli([
        'netsim',
        'exec',
        name,
        'a',
        '--state-dir',
        stateDir,
        '--',
        'sh',
        '-c',
        'exit 7',
      ]);
      expect(fail.code).toBe(7);
      const again = await cli([
        'netsim',
        'up',
        name,
        '--host',
        'a:symmetric',
        '--state-dir',
        stateDir,
      ]);
      expect(again.code).toBe(1);
      expect(again.stderr).toMatch(/NATPUSH_ERR_NETSIM_LAB_EXISTS/);
      const bad = await cli([
        'netsim',
        'up',
        `${TAG}-bad`,
        '--host',
        'a:open',
        '--state-dir',
        stateDir,
      ]);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/unknown preset/);
    } finally {
      const down = await cli(['netsim', 'down', name, '--state-dir', stateDir]);
      expect(down.code).toBe(0);
    }
    expect(namespaces(`np-${name}`)).toEqual([]);
    const none = await cli(['netsim', 'down', name, '--state-dir', stateDir]);
    expect(none.stderr).toMatch(/NATPUSH_ERR_NETSIM_NO_SUCH_LAB/);
  });
});
