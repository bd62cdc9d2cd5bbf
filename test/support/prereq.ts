/**
 * Prerequisites of the netsim and interop tiers.
 *
 * Locally, a test whose prerequisite is missing (not root, a Debian package absent) is skipped
 * with one line saying what is missing and how to get it. Under CI=true a missing prerequisite
 * fails the run instead, so CI can never pass by skipping.
 */
import { execFileSync } from 'node:child_process';

export interface Requirements {
  /** Needs to run as root (network namespaces, iptables). */
  root?: boolean;
  /** Commands that must be on PATH, each with the Debian package that provides it. */
  commands?: Record<string, string>;
}

function hasCommand(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Returns undefined when every requirement is met, otherwise the reason to skip (and prints it
 * once). Throws under CI=true instead of returning a reason.
 */
export function missingPrereq(tier: string, req: Requirements): string | undefined {
  const missing: string[] = [];
  if (req.root && process.getuid?.() !== 0) missing.push('root (run the tests as root)');
  const pkgs = new Set<string>();
  for (const [cmd, pkg] of Object.entries(req.commands ?? {})) {
    if (!hasCommand(cmd)) {
      missing.push(`command ${cmd}`);
      pkgs.add(pkg);
    }
  }
  if (missing.length === 0) return undefined;
  const how = pkgs.size > 0 ? `; install with: apt-get install -y ${[...pkgs].join(' ')}` : '';
  const reason = `${tier}: missing ${missing.join(', ')}${how}`;
  if (process.env.CI === 'true') {
    throw new Error(`CI=true and a prerequisite is missing, refusing to skip: ${reason}`);
  }
  process.stderr.write(`skip ${reason}\n`);
  return reason;
}

/** The netsim tier's needs: root, iproute2, nftables, iptables, conntrack. */
export const NETSIM_REQUIREMENTS: Requirements = {
  root: true,
  commands: { ip: 'iproute2', nft: 'nftables', iptables: 'iptables', conntrack: 'conntrack' },
};
