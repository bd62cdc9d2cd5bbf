/**
 * Where secrets come from (issue 8, finding 11): `/proc/PID/cmdline` is readable by every local
 * user, so `--secret X` hands X to all of them. Files (mode 0600) and the environment
 * (`/proc/PID/environ` is readable only by the owner and root) are not. Every `--*-file` option,
 * NATPUSH_* variable and generated secret of `relay`, `serve` and `stun` goes through here, and
 * every secret file natpush creates (serve's API key and TURN secret, a peer's identity key:
 * src/peer/identity-file.ts) is created by `createSecretFile`.
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fchmodSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
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
 * Create `path` holding `contents`, readable and writable by its owner only, all at once. The
 * contents go to a private temporary file beside it first (created `wx` with mode 0600 and
 * fchmod'ed, so the umask does not matter; fsync'ed), which is then link()ed to `path`: link
 * fails when `path` exists, so a secret is never overwritten, and another process sees no file or
 * the whole file — never an empty or half-written one, which it would take for the secret (the
 * old `writeFileSync(path, …, { flag: 'wx' })` left that window open, and a second server that
 * lost the race threw EEXIST). The parent directory is created (0700) when missing.
 * 'exists': another process, or an earlier run, made it first; its contents stand.
 */
export function createSecretFile(path: string, contents: string): 'created' | 'exists' {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    try {
      fchmodSync(fd, 0o600);
      writeSync(fd, contents);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    linkSync(tmp, path);
    return 'created';
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return 'exists';
    throw err;
  } finally {
    rmSync(tmp, { force: true });
  }
}

/**
 * The contents of the secret file `path`, created with `make()` when there is none (the first
 * process's when several start at once). Three tries: a file deleted between our failed create
 * and our read is made again, and more than that is not a race but an operator.
 */
export function readOrCreateSecretFile(
  path: string,
  make: () => string,
): { contents: string; created: boolean } {
  for (let attempt = 1; ; attempt++) {
    try {
      return { contents: readFileSync(path, 'utf8'), created: false };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || attempt > 3) throw err;
    }
    const contents = make();
    if (createSecretFile(path, contents) === 'created') return { contents, created: true };
  }
}

/**
 * A secret kept in the data directory: read when present, else generated once (createSecretFile:
 * mode 0600, never overwritten, never seen half-written). `serve`'s API key and TURN secret.
 */
export function generatedSecret(
  dataDir: string,
  name: string,
  bytes: number,
): { value: string; file: string } {
  const file = join(dataDir, name);
  const { contents } = readOrCreateSecretFile(
    file,
    () => randomBytes(bytes).toString('base64url') + '\n',
  );
  const value = contents.trim();
  // An empty secret would be a key anyone knows: refuse it rather than serve with it.
  if (value === '') throw optionError(`${file} is empty: put a secret in it, or delete it`);
  return { value, file };
}
