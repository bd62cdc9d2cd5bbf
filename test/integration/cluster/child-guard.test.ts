/**
 * No server outlives its test (bench/lib/child-guard.ts, teardown.ts): a process that guards a
 * child and is then stopped the way vitest stops a worker (SIGTERM) takes the child with it; a
 * child that ignores SIGTERM is SIGKILLed after its grace; a teardown step that hangs or throws
 * does not stop the steps after it. Real processes (`sleep`), waits bounded by their exit.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { guardChild, stopChild } from '../../../bench/lib/child-guard.js';
import { bounded, teardown } from './teardown.js';

const BUILT = fileURLToPath(new URL('../../../dist/bench/lib/child-guard.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'natpush-guard-'));
const started: ChildProcess[] = [];
const pids: number[] = [];

afterAll(async () => {
  for (const c of started) await stopChild(c);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone, as it should be
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

/** Gone, or a zombie waiting for its reaper: dead either way. */
function dead(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

async function until(cond: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 20_000;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('child processes of the cluster tests never leak', () => {
  it.skipIf(!existsSync(BUILT))(
    'a guarding process stopped by SIGTERM (how vitest stops a worker) takes its child along',
    async () => {
      const script = join(dir, 'parent.mjs');
      writeFileSync(
        script,
        `import { spawn } from 'node:child_process';
import { guardChild } from ${JSON.stringify(BUILT)};
const c = spawn('sleep', ['300'], { stdio: 'ignore' });
guardChild(c);
console.log(c.pid);
setInterval(() => {}, 1000);
`,
      );
      const parent = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
      started.push(parent);
      const exited = new Promise<NodeJS.Signals | null>((r) =>
        parent.once('exit', (_code, sig) => r(sig)),
      );
      const pid = await new Promise<number>((resolve) =>
        parent.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))),
      );
      pids.push(pid);
      expect(dead(pid)).toBe(false);
      parent.kill('SIGTERM');
      // It still dies of the signal (the default action is kept), and its child with it.
      expect(await exited).toBe('SIGTERM');
      await until(() => dead(pid), 'the guarded child is gone');
    },
  );

  it('stopChild SIGKILLs a child that ignores SIGTERM after its grace', async () => {
    const c = spawn('sh', ['-c', "trap '' TERM; exec sleep 300"], { stdio: 'ignore' });
    started.push(c);
    guardChild(c);
    // Only once `sleep` runs is SIGTERM ignored (before the trap, it would kill the shell).
    const cmdline = (): string => {
      try {
        return readFileSync(`/proc/${c.pid}/cmdline`, 'utf8');
      } catch {
        return '';
      }
    };
    await until(() => cmdline().startsWith('sleep'), 'the shell became sleep');
    const exited = new Promise<NodeJS.Signals | null>((r) => c.once('exit', (_c, s) => r(s)));
    await stopChild(c, { signal: 'SIGTERM', graceMs: 300 });
    expect(await exited).toBe('SIGKILL');
  });

  it('a teardown step that hangs or throws does not stop the steps after it', async () => {
    const ran: string[] = [];
    await teardown(
      [
        ['hangs', () => new Promise(() => {})],
        [
          'throws',
          () => {
            throw new Error('boom');
          },
        ],
        ['last', () => ran.push('last')],
      ],
      200,
    );
    expect(ran).toEqual(['last']);
    expect(await bounded('late', () => new Promise(() => {}), 50)).toMatch(/still running/);
    expect(await bounded('fine', () => Promise.resolve(), 50)).toBeUndefined();
  });
});
