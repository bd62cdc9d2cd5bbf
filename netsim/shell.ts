/**
 * Running the tools netsim drives (ip, nft, iptables, sh): bounded output, bounded time.
 */
import { execFile, execFileSync } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { MAX_EXEC_OUTPUT_BYTES, SETUP_STEP_TIMEOUT_MS } from './constants.js';
import { NETSIM_ERR, NetsimError } from './errors.js';

export interface RunResult {
  stdout: string;
  stderr: string;
  /** Exit code; null when killed by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface RunOptions {
  input?: string;
  timeoutMs?: number;
}

/** Runs a command to completion. Resolves with its result whatever the exit code. */
export function run(
  cmd: string,
  args: readonly string[],
  opts: RunOptions = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      args,
      {
        encoding: 'utf8',
        timeout: opts.timeoutMs ?? SETUP_STEP_TIMEOUT_MS,
        killSignal: 'SIGKILL',
        maxBuffer: MAX_EXEC_OUTPUT_BYTES,
      },
      (err, stdout, stderr) => {
        if (err) {
          const code = (err as NodeJS.ErrnoException).code as unknown;
          if (code === 'ENOENT') {
            reject(
              new NetsimError(NETSIM_ERR.MISSING_TOOL, `command not found: ${cmd}`, { cause: err }),
            );
            return;
          }
          if (typeof code === 'string' || err.killed) {
            // Output over the limit, or our timeout fired.
            const why = err.killed ? 'timed out' : err.message;
            reject(
              new NetsimError(NETSIM_ERR.EXEC_FAILED, `${cmd} ${args.join(' ')}: ${why}`, {
                cause: err,
              }),
            );
            return;
          }
        }
        resolve({ stdout, stderr, code: child.exitCode, signal: child.signalCode });
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    else child.stdin?.end();
  });
}

/** Runs a command; throws SETUP_FAILED with its stderr unless it exits 0. */
export async function runOk(
  what: string,
  cmd: string,
  args: readonly string[],
  input?: string,
): Promise<string> {
  const r = await run(cmd, args, input === undefined ? {} : { input });
  if (r.code !== 0) {
    throw new NetsimError(
      NETSIM_ERR.SETUP_FAILED,
      `${what}: ${cmd} exited ${r.code ?? r.signal}: ${r.stderr.trim()}`,
    );
  }
  return r.stdout;
}

/** Synchronous best effort, for exit handlers: never throws. */
export function runSyncQuiet(cmd: string, args: readonly string[], input?: string): string {
  try {
    return execFileSync(cmd, args, {
      encoding: 'utf8',
      input: input ?? '',
      stdio: ['pipe', 'pipe', 'ignore'],
      timeout: SETUP_STEP_TIMEOUT_MS,
    });
  } catch {
    return '';
  }
}

/** Is `cmd` an executable on PATH? (No process spawned.) */
export function onPath(cmd: string, path = process.env.PATH ?? ''): boolean {
  for (const dir of [...path.split(delimiter), '/usr/sbin', '/sbin']) {
    if (dir === '') continue;
    try {
      accessSync(join(dir, cmd), fsConstants.X_OK);
      return true;
    } catch {
      // next directory
    }
  }
  return false;
}
