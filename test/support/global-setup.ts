/**
 * Runs once around the whole test run. netsim labs made by this run carry a tag in their names;
 * after the run, any namespace still carrying it means a lab leaked, and the run fails
 * (STYLE.md §15). Before the run, labs whose creating process is gone (a test run killed with
 * SIGKILL never reaches its teardown) are removed with their processes: their delay lines,
 * Peers and servers would otherwise keep running beside this run's labs.
 */
import { execFileSync } from 'node:child_process';
import { DEFAULT_STATE_DIR, Lab, listRecords, processAlive } from '../../netsim/index.js';

/**
 * The pid and 4 random base-36 characters. The pid alone comes back: pid_max is 32768 on many
 * machines (this one), a CI run spawns thousands of processes, and a lab leaked by an earlier
 * run (a SIGKILLed one never reaches its teardown) under the same pid would then fail this run.
 */
const TAG = `t${process.pid.toString(36)}${Math.floor(Math.random() * 36 ** 4)
  .toString(36)
  .padStart(4, '0')}`;

function labNamespaces(): string[] {
  try {
    const out = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
    return (
      out
        .split('\n')
        .map((l) => l.split(' ')[0] ?? '')
        // Namespaces are `np-<tag>-<lab>-<node>`: the dashes keep one tag from matching inside
        // another (or inside a random lab name).
        .filter((n) => n.includes(`-${TAG}-`))
    );
  } catch {
    return [];
  }
}

/**
 * Removes the recorded labs of dead processes, except persistent ones (`natpush netsim up`).
 * A live owner's lab (another test run's on this machine) is left alone. Best effort: without
 * root there is nothing recorded to remove (and nothing that could be).
 */
async function removeOrphanLabs(): Promise<void> {
  const { records } = listRecords(DEFAULT_STATE_DIR);
  for (const r of records) {
    if (r.persistent || processAlive(r.ownerPid)) continue;
    try {
      await Lab.open(r.name).destroy();
      process.stderr.write(
        `netsim: removed lab ${r.name} (${r.namespaces.length} namespaces) left by pid ${r.ownerPid}, which is gone\n`,
      );
    } catch (e) {
      process.stderr.write(`netsim: could not remove orphan lab ${r.name}: ${String(e)}\n`);
    }
  }
}

export async function setup(): Promise<void> {
  // Inherited by the test workers; netsim puts it into every name it creates.
  process.env.NATPUSH_NETSIM_TAG = TAG;
  await removeOrphanLabs();
}

export function teardown(): void {
  const left = labNamespaces();
  if (left.length > 0) {
    throw new Error(`netsim labs left behind by this test run: ${left.join(', ')}`);
  }
}
