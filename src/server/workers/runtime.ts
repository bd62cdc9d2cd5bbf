import { fileURLToPath } from 'node:url';
import { mmsgUnavailable } from '../../net/mmsg-binding.js';
import type { UdpIo } from '../../net/mmsg-network.js';

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

/**
 * Whether N worker processes can each bind one UDP port with SO_REUSEPORT on this runtime with
 * `--udp-io io`: undefined when they can, else why not (for the operator). Two ways: the udp_mmsg
 * addon sets the option itself on any Node version (`--udp-io mmsg` and the addon loads), or
 * dgram's `reusePort` (Node >= 22.12). TCP needs neither: a worker's TCP listener is node:cluster's
 * (the primary accepts and hands connections round robin), on every Node version.
 */
export function udpPortShareUnavailable(
  io: UdpIo,
  runtime: { reusePort?: boolean; mmsgUnavailable?: string | undefined } = {},
): string | undefined {
  if (runtime.reusePort ?? hasReusePort()) return undefined;
  const why = 'mmsgUnavailable' in runtime ? runtime.mmsgUnavailable : mmsgUnavailable();
  if (io === 'mmsg' && why === undefined) return undefined;
  const dgram = `dgram's reusePort needs Node >= 22.12 (this is ${process.version})`;
  return io === 'dgram'
    ? `${dgram}, and --udp-io dgram leaves out the udp_mmsg addon, which can set it on any Node`
    : `${dgram}, and the udp_mmsg addon that can set it on any Node does not load: ${why}`;
}
