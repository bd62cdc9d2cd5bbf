/**
 * The host's own addresses for host candidates (RFC 8445 §5.1.1.1), the production value of
 * `PunchConnectorOptions.interfaces`. Loopback and link-local addresses are left out: a peer on
 * another machine can never reach them (candidates.ts filters them again for injected lists).
 */
import os from 'node:os';

export function systemInterfaces(family: 'IPv4' | 'IPv6' = 'IPv4'): string[] {
  const out: string[] = [];
  for (const list of Object.values(os.networkInterfaces())) {
    for (const i of list ?? []) {
      if (i.family === family && !i.internal && !i.address.startsWith('169.254.')) {
        if (family === 'IPv6' && /^fe80:/i.test(i.address)) continue;
        out.push(i.address);
      }
    }
  }
  return out;
}
