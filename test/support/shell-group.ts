/**
 * Shell lines and scripts run as the README shows them (test/integration/readme, readme-cli):
 * each in its own process group, since a line may start children (npx → node) or background
 * `serve` and `listen`. Its output (stdout and stderr together) is waited on as it arrives, and
 * a stop waits until no member of the group is left, so a temp dir is never removed under a
 * live process. Also the `natpush` a README line calls (the built CLI on PATH) and a README
 * fragment run as a node module.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { guardChild } from '../../bench/lib/child-guard.js';

/** Every signal to a group may find it gone already. */
export function signalGroup(pgid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pgid, sig);
  } catch {
    /* the group is gone */
  }
}

export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/** `dir/bin/natpush` running the built CLI (`cli`, dist/src/cli/main.js); returns `dir/bin`. */
export function natpushOnPath(dir: string, cli: string): string {
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'natpush'), `#!/bin/sh\nexec "${process.execPath}" "${cli}" "$@"\n`);
  chmodSync(join(bin, 'natpush'), 0o755);
  return bin;
}

export interface ShellGroup {
  out: () => string;
  exited: Promise<number | null>;
  /** Signal the whole process group. */
  signal(sig: NodeJS.Signals): void;
  /** The first match of `re` in the output; rejects with the output after `timeoutMs`. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Whether `done(output)` came to hold within `timeoutMs` (false: it did not). */
  until(done: (out: string) => boolean, timeoutMs: number): Promise<boolean>;
  /**
   * Stop the group: `sig` (default SIGKILL) and, after at most `graceMs` for it to go by itself,
   * SIGKILL; resolves once no member of the group is left.
   */
  stop(o?: { sig?: NodeJS.Signals; graceMs?: number }): Promise<void>;
}

/**
 * Run `line` with `bash -c` in its own process group, `bin` first on PATH and `env` over
 * process.env. The caller stops it (`stop()`) after the test.
 */
export function shellGroup(
  line: string,
  o: { cwd: string; bin?: string; env?: NodeJS.ProcessEnv },
): ShellGroup {
  const child = spawn('bash', ['-c', line], {
    cwd: o.cwd,
    detached: true,
    env: {
      ...process.env,
      ...(o.bin ? { PATH: `${o.bin}:${process.env.PATH}` } : {}),
      ...o.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  guardChild(child);
  const pgid = child.pid!;
  let out = '';
  const waiters = new Set<() => void>();
  const add = (d: Buffer) => {
    out += d.toString();
    for (const w of [...waiters]) w();
  };
  child.stdout.on('data', add);
  child.stderr.on('data', add);
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  /** Resolves with `test(out)`'s first truthy value, or `timedOut()`'s after `timeoutMs`. */
  const when = <T>(test: (out: string) => T | undefined, timeoutMs: number, timedOut: () => T) =>
    new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.delete(check);
        try {
          resolve(timedOut());
        } catch (err) {
          reject(err as Error);
        }
      }, timeoutMs);
      const check = () => {
        const r = test(out);
        if (!r) return;
        waiters.delete(check);
        clearTimeout(timer);
        resolve(r);
      };
      waiters.add(check);
      check();
    });
  return {
    out: () => out,
    exited,
    signal: (sig) => signalGroup(pgid, sig),
    // npx, then a node start, on a loaded 2-core machine: 90 s
    waitFor: (re, timeoutMs = 90_000) =>
      when(
        (s) => re.exec(s) ?? undefined,
        timeoutMs,
        () => {
          throw new Error(`timeout waiting for ${re} in:\n${out}`);
        },
      ),
    until: (done, timeoutMs) =>
      when<boolean>(
        (s) => done(s) || undefined,
        timeoutMs,
        () => false,
      ),
    async stop({ sig = 'SIGKILL', graceMs = 0 } = {}) {
      signalGroup(pgid, sig);
      const stopBy = Date.now() + graceMs;
      while (groupAlive(pgid) && Date.now() < stopBy) await new Promise((r) => setTimeout(r, 100));
      signalGroup(pgid, 'SIGKILL');
      await exited;
      // the group's other members (npx's node, a backgrounded serve) may outlive bash
      await expect.poll(() => groupAlive(pgid), { timeout: 30_000 }).toBe(false);
    },
  };
}

export interface NodeModuleRun {
  /** stdout and stderr together. */
  out: () => string;
  exited: Promise<number | null>;
  /** SIGKILL (nothing once it exited) and wait for the exit. */
  kill(): Promise<void>;
}

/** `node file` in `cwd` with `env` over process.env (a README fragment written as a module). */
export function runNodeModule(file: string, cwd: string, env: NodeJS.ProcessEnv): NodeModuleRun {
  const child = spawn(process.execPath, [file], {
    cwd,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  guardChild(child);
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return {
    out: () => out,
    exited,
    async kill() {
      child.kill('SIGKILL');
      await exited;
    },
  };
}
