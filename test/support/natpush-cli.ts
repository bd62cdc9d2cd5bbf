/**
 * The built natpush CLI, for tiers that run it in another network namespace or next to a
 * third-party peer (netsim, interop). `npm test` builds before running the tests.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const NATPUSH_CLI = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));

/** Throws a clear error when dist/ has not been built. */
export function requireBuiltCli(): string {
  if (!existsSync(NATPUSH_CLI)) {
    throw new Error(`${NATPUSH_CLI} is missing: run \`npm run build\` first (npm test does)`);
  }
  return NATPUSH_CLI;
}
