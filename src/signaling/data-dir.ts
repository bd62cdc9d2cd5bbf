/**
 * The data directory of `natpush serve`: the mailbox (mailbox.sqlite and its -wal/-shm, which
 * hold notification bodies and sender/recipient pairs), the generated API key and the TURN
 * secret. Nobody but the server's user may read any of it (issue 8, finding 7).
 *
 * Modes are set with chmod after creation, never left to `mode` arguments alone: those are
 * masked by the process umask (POSIX open(2)/mkdir(2)), so a umask of 022 gives 0755 to a dir
 * asked for 0700 — or of 0277 leaves the owner unable to write. A directory that already
 * existed (an older natpush made it 0755, or an operator created it) is tightened at start
 * too, with every file in it: a -wal written by an old version with 0644 would otherwise keep
 * its mode for the life of the database, because SQLite creates -wal and -shm with the mode of
 * the database file (sqlite os_unix.c findCreateFileMode).
 */
import { chmodSync, closeSync, lstatSync, mkdirSync, openSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Logger } from '../util/logger.js';
import { storeFailure } from './store/failure.js';

/** The data directory's mode: owner only. */
export const DATA_DIR_MODE = 0o700;
/** Every file in it: owner read/write only. */
export const DATA_FILE_MODE = 0o600;
/** Entries fixed per level at start; a data dir holds a handful of files, so this is a guard. */
const MAX_ENTRIES = 10_000;

/**
 * Create `dir` (and parents) if missing, then force it to 0700 and everything in it to 0600
 * (sub-directories 0700), whatever the umask and whatever existed. Symbolic links are left
 * alone and not followed (chmod would change their target, which may be outside the dir).
 * Returns the absolute path.
 */
export function prepareDataDir(dir: string, logger?: Logger): string {
  const abs = resolve(dir);
  try {
    mkdirSync(abs, { recursive: true, mode: DATA_DIR_MODE });
    tighten(abs, logger, 0);
  } catch (err) {
    // e.g. EROFS, EACCES: a stable NATPUSH_ERR_STORE_… code and the path, not a bare errno.
    throw storeFailure(err, 'cannot prepare the data directory', abs);
  }
  return abs;
}

function tighten(dir: string, logger: Logger | undefined, depth: number): void {
  fix(dir, DATA_DIR_MODE, logger);
  if (depth > 4) return; // natpush itself never nests; do not walk an operator's tree forever
  const names = readdirSync(dir).slice(0, MAX_ENTRIES);
  for (const name of names) {
    const p = join(dir, name);
    const st = lstatSync(p);
    if (st.isSymbolicLink()) {
      logger?.warn('symbolic link in the data directory left as is', { path: p });
    } else if (st.isDirectory()) {
      tighten(p, logger, depth + 1);
    } else if (st.isFile()) {
      fix(p, DATA_FILE_MODE, logger);
    }
  }
}

function fix(path: string, mode: number, logger: Logger | undefined): void {
  const was = lstatSync(path).mode & 0o7777;
  if (was === mode) return;
  chmodSync(path, mode);
  logger?.info('data directory: permissions tightened', {
    path,
    from: was.toString(8),
    to: mode.toString(8),
  });
}

/**
 * Create `file` if missing with mode 0600 (chmod'ed, so umask-independent), and force 0600 if it
 * exists. Used for the SQLite database before SQLite opens it: SQLite would create it 0644
 * (SQLITE_DEFAULT_FILE_PERMISSIONS) and give its -wal and -shm the same mode.
 */
export function ensurePrivateFile(file: string): void {
  // 'a': create if missing, never truncate.
  closeSync(openSync(file, 'a', DATA_FILE_MODE));
  chmodSync(file, DATA_FILE_MODE);
}
