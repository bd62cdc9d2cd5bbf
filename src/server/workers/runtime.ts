import { fileURLToPath } from 'node:url';

/** The worker program (worker-main.ts, compiled next to this file). */
export const WORKER_MAIN = fileURLToPath(new URL('./worker-main.js', import.meta.url));

/**
 * What the runtime can do for workers. dgram's `reusePort` (SO_REUSEPORT) arrived in Node 23.1
 * and 22.12 (nodejs/node#55403); older versions silently ignore the option, so the version is
 * checked rather than the option tried. Linux only among the platforms we run on (FreeBSD has
 * SO_REUSEPORT_LB; macOS's SO_REUSEPORT does not balance).
 */
export function hasReusePort(
  version: string = process.versions.node,
  platform: NodeJS.Platform = process.platform,
): boolean {
  if (platform !== 'linux') return false;
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
}
