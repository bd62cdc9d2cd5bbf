/**
 * Where secrets come from (issue 8, finding 11): `/proc/PID/cmdline` is readable by every local
 * user, so `--secret X` hands X to all of them. Files (mode 0600) and the environment
 * (`/proc/PID/environ` is readable only by the owner and root) are not. Every `--*-file` option,
 * NATPUSH_* variable and generated secret of `relay`, `serve` and `stun` goes through here.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { optionError } from './errors.js';

export const SECRET_ENV = {
  apiKey: 'NATPUSH_API_KEY',
  turnSecret: 'NATPUSH_TURN_SECRET',
  peerToken: 'NATPUSH_PEER_TOKEN',
  /** Static TURN users `name:password`, one per line (the relay's `--user`). */
  turnUsers: 'NATPUSH_TURN_USERS',
} as const;

export type Warn = (line: string) => void;

/** Non-empty lines of a secret file or variable (one secret per line; surrounding blanks trimmed). */
export function secretLines(text: string | undefined): string[] {
  return (text ?? '')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '');
}

/** Read a secret file; a file other users can read gets a warning (it is no secret then). */
export function readSecretFile(path: string, warn: Warn): string[] {
  try {
    if ((statSync(path).mode & 0o077) !== 0) {
      warn(`natpush: warning: ${path} is readable by other users; chmod 600 it`);
    }
    return secretLines(readFileSync(path, 'utf8'));
  } catch (err) {
    throw optionError(`cannot read ${path}: ${(err as Error).message}`);
  }
}

/** The warning an old-style secret flag earns: it still works. */
export function argvSecretWarning(flag: string, instead: string): string {
  return (
    `natpush: warning: ${flag} puts a secret on the command line, visible to every local user ` +
    `(ps, /proc/PID/cmdline); use ${instead}`
  );
}

/**
 * One secret's values from its three sources, combined: the flag (warned about), its file, its
 * environment variable.
 */
export function secretValues(
  flag: string,
  given: string[] | undefined,
  file: string | undefined,
  envName: string,
  env: NodeJS.ProcessEnv,
  warn: Warn,
): string[] {
  if (given && given.length > 0) {
    warn(argvSecretWarning(`--${flag}`, `--${flag}-file or $${envName}`));
  }
  return [
    ...(given ?? []),
    ...(file ? readSecretFile(file, warn) : []),
    ...secretLines(env[envName]),
  ];
}

/**
 * A secret kept in the data directory: read when present, else generated once (mode 0600, `wx` so
 * two starting servers never overwrite each other's). `serve`'s API key and TURN secret.
 */
export function generatedSecret(
  dataDir: string,
  name: string,
  bytes: number,
): { value: string; file: string } {
  const file = join(dataDir, name);
  try {
    return { value: readFileSync(file, 'utf8').trim(), file };
  } catch {
    const value = randomBytes(bytes).toString('base64url');
    writeFileSync(file, value + '\n', { mode: 0o600, flag: 'wx' });
    chmodSync(file, 0o600);
    return { value, file };
  }
}
