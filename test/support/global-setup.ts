/**
 * Runs once around the whole test run. netsim labs made by this run carry a tag in their names;
 * after the run, any namespace still carrying it means a lab leaked, and the run fails
 * (STYLE.md §15).
 */
import { execFileSync } from 'node:child_process';

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

export function setup(): void {
  // Inherited by the test workers; netsim puts it into every name it creates.
  process.env.NATPUSH_NETSIM_TAG = TAG;
}

export function teardown(): void {
  const left = labNamespaces();
  if (left.length > 0) {
    throw new Error(`netsim labs left behind by this test run: ${left.join(', ')}`);
  }
}
