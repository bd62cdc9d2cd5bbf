/**
 * What netsim needs from the machine, checked up front so the failure is one clear typed error
 * instead of a half-built lab.
 */
import { existsSync } from 'node:fs';
import { NETSIM_ERR, NetsimError } from './errors.js';
import { onPath } from './shell.js';

/** Each tool netsim runs, with the Debian package that provides it. */
export const NETSIM_TOOLS: Record<string, string> = {
  ip: 'iproute2',
  nft: 'nftables',
  iptables: 'iptables',
  conntrack: 'conntrack',
};

/** Delay needs a C compiler and libnetfilter_queue to build its userspace delay line. */
export const DELAY_TOOLS: Record<string, string> = { gcc: 'gcc' };
export const NFQ_HEADER = '/usr/include/libnetfilter_queue/libnetfilter_queue.h';
export const NFQ_PACKAGE = 'libnetfilter-queue-dev';

export function checkRoot(): void {
  if (process.getuid?.() !== 0) {
    throw new NetsimError(
      NETSIM_ERR.NOT_ROOT,
      'netsim needs root (network namespaces and netfilter need CAP_NET_ADMIN and CAP_SYS_ADMIN)',
    );
  }
}

function checkTools(tools: Record<string, string>): void {
  const missing = Object.entries(tools).filter(([cmd]) => !onPath(cmd));
  if (missing.length === 0) return;
  const pkgs = [...new Set(missing.map(([, p]) => p))].join(' ');
  throw new NetsimError(
    NETSIM_ERR.MISSING_TOOL,
    `netsim needs ${missing.map(([c]) => c).join(', ')}; install with: apt-get install -y ${pkgs}`,
  );
}

/** Root and the base tools. Throws NetsimError NOT_ROOT / MISSING_TOOL. */
export function checkPrerequisites(): void {
  checkRoot();
  checkTools(NETSIM_TOOLS);
}

/** What link delay needs on top. Throws NetsimError MISSING_TOOL. */
export function checkDelayPrerequisites(): void {
  checkTools(DELAY_TOOLS);
  if (!existsSync(NFQ_HEADER)) {
    throw new NetsimError(
      NETSIM_ERR.MISSING_TOOL,
      `netsim link delay needs ${NFQ_HEADER}; install with: apt-get install -y ${NFQ_PACKAGE}`,
    );
  }
}
