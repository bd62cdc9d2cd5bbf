/**
 * Lab records: one JSON file per lab under a state directory (default /run/natpush-netsim, a
 * tmpfs, so records vanish with the machine as the namespaces do). A record is written before
 * the first namespace exists, so a lab whose creator crashed can always be found and removed.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LAB_NAME_RE, NAMESPACE_PREFIX } from './constants.js';
import { NETSIM_ERR, NetsimError } from './errors.js';
import type { NodeInfo } from './plan.js';

export interface LabRecord {
  /** Record format version. */
  v: 1;
  name: string;
  /** Prefix of every namespace of the lab. */
  prefix: string;
  namespaces: string[];
  nodes: NodeInfo[];
  /** The process that created it, and whether the lab outlives that process (CLI `up`). */
  ownerPid: number;
  persistent: boolean;
  createdAt: string;
}

function recordPath(dir: string, name: string): string {
  if (!LAB_NAME_RE.test(name)) throw new TypeError(`netsim: bad lab name ${JSON.stringify(name)}`);
  return join(dir, `${name}.json`);
}

/** Creates the record; fails with LAB_EXISTS if a lab of that name is recorded. */
export function createRecord(dir: string, rec: LabRecord): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  try {
    writeFileSync(recordPath(dir, rec.name), JSON.stringify(rec, null, 2) + '\n', {
      flag: 'wx',
      mode: 0o600,
    });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new NetsimError(
        NETSIM_ERR.LAB_EXISTS,
        `a netsim lab named "${rec.name}" already exists`,
      );
    }
    throw e;
  }
}

export function readRecord(dir: string, name: string): LabRecord {
  let text: string;
  try {
    text = readFileSync(recordPath(dir, name), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new NetsimError(NETSIM_ERR.NO_SUCH_LAB, `no netsim lab named "${name}"`);
    }
    throw e;
  }
  return parseRecord(text, name);
}

function parseRecord(text: string, name: string): LabRecord {
  const r = JSON.parse(text) as Partial<LabRecord>;
  const valid =
    r.v === 1 &&
    r.name === name &&
    typeof r.prefix === 'string' &&
    r.prefix.startsWith(`${NAMESPACE_PREFIX}-`) &&
    Array.isArray(r.namespaces) &&
    r.namespaces.every((n) => typeof n === 'string' && n.startsWith(`${r.prefix}-`));
  if (!valid) throw new NetsimError(NETSIM_ERR.NO_SUCH_LAB, `lab record "${name}" is malformed`);
  return r as LabRecord;
}

export function removeRecord(dir: string, name: string): void {
  rmSync(recordPath(dir, name), { force: true });
}

/** Every recorded lab; unreadable records are skipped (and reported by name). */
export function listRecords(dir: string): { records: LabRecord[]; broken: string[] } {
  let files: string[];
  try {
    files = readdirSync(dir);
  } catch {
    return { records: [], broken: [] };
  }
  const records: LabRecord[] = [];
  const broken: string[] = [];
  for (const f of files.filter((x) => x.endsWith('.json')).sort()) {
    const name = f.slice(0, -'.json'.length);
    try {
      records.push(parseRecord(readFileSync(join(dir, f), 'utf8'), name));
    } catch {
      broken.push(name);
    }
  }
  return { records, broken };
}

/**
 * Is `pid` a live process? Reads /proc/PID/stat rather than `kill -0`, which also succeeds on a
 * zombie that PID 1 has not reaped yet (seen on these machines).
 */
export function processAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) [ZX]/s.test(stat);
  } catch {
    return false;
  }
}
