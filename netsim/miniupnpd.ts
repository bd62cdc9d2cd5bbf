/**
 * A NAT router that grants port mappings: miniupnpd (UPnP-IGD, NAT-PMP RFC 6886 and PCP RFC
 * 6887 on UDP 5351) running in the NAT's namespace, on top of the NAT's preset.
 *
 * Facts this file is built around (Debian 12's miniupnpd-nftables 2.3.1, seen here):
 * - 2.3.1 refuses every mapping while its WAN address is in a reserved range, and the lab's
 *   internet is RFC 5737 space, which is on that list; scripts/build-miniupnpd.sh rebuilds
 *   Debian's source without those two entries (into .cache/miniupnpd, gitignored). Behind a
 *   carrier-grade NAT the WAN address is 100.64.0.0/10, still reserved: the daemon offers no
 *   mapping there, as a real router behind CGN should not.
 * - It does not create its nftables table; we load `table inet miniupnpd` with the chains it
 *   fills (DNAT in prerouting, accepts in forward). The NAT's own table (nat-rules.ts) lets the
 *   DNATed flows through its forward chain (`ct status dnat accept`).
 * - Its mappings outlive SIGTERM (the rules stay in the table): the lab removes them by
 *   deleting the namespace, which takes the table with it, after killing the daemon.
 * - Namespaces share /run, so the pid and lease files are per lab and per NAT.
 * - A PCP MAP for an internal port no allow rule covers makes 2.3.1 try all 65,535 ports
 *   (about 30 s, blocking every other request): we allow internal ports 1-65535.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MINIUPNPD_HTTP_PORT, SETUP_STEP_TIMEOUT_MS } from './constants.js';
import { NETSIM_ERR, NetsimError } from './errors.js';
import { run } from './shell.js';

/** What a NAT spec asks of its miniupnpd. */
export interface MiniupnpdOptions {
  /**
   * The IGD version the router announces: 2 (InternetGatewayDevice:2, WANIPConnection:2, as
   * Debian builds it) or 1 (WANIPConnection:1). Default 2.
   */
  igdVersion?: 1 | 2;
}

/** The directory with the rebuilt binaries, next to the repository (or NATPUSH_MINIUPNPD_DIR). */
function binaryDirs(): string[] {
  const env = process.env.NATPUSH_MINIUPNPD_DIR;
  return [
    ...(env ? [env] : []),
    fileURLToPath(new URL('../.cache/miniupnpd', import.meta.url)),
    fileURLToPath(new URL('../../.cache/miniupnpd', import.meta.url)),
  ];
}

/** Path of the miniupnpd binary for an IGD version; MISSING_TOOL if it was never built. */
export function miniupnpdBinary(igdVersion: 1 | 2): string {
  const name = igdVersion === 1 ? 'miniupnpd-igd1' : 'miniupnpd';
  for (const dir of binaryDirs()) {
    const p = join(dir, name);
    if (existsSync(p)) return p;
  }
  throw new NetsimError(
    NETSIM_ERR.MISSING_TOOL,
    `netsim's miniupnpd router needs ${name}, built by scripts/build-miniupnpd.sh (looked in ${binaryDirs().join(', ')})`,
  );
}

/** The nftables table miniupnpd fills (it expects the chains to exist). */
export function miniupnpdRuleset(): string {
  return `table inet miniupnpd {
  chain forward {
    type filter hook forward priority filter; policy accept;
    jump miniupnpd
  }
  chain miniupnpd {
  }
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    jump prerouting_miniupnpd
  }
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    jump postrouting_miniupnpd
  }
  chain prerouting_miniupnpd {
  }
  chain postrouting_miniupnpd {
  }
}
`;
}

export interface MiniupnpdConfigInput {
  /** The NAT's LAN prefix, e.g. 192.168.2.0/24: the only clients allowed to map. */
  lanPrefix: string;
  leaseFile: string;
  /** A stable UUID per NAT (UPnP device UDN). */
  uuid: string;
}

/** miniupnpd.conf for a lab NAT (interfaces `wan` and `lan`, see plan.ts). */
export function miniupnpdConfig(c: MiniupnpdConfigInput): string {
  return [
    'ext_ifname=wan',
    'listening_ip=lan',
    `http_port=${MINIUPNPD_HTTP_PORT}`,
    // NAT-PMP and PCP together on UDP 5351 (one switch in 2.3.x).
    'enable_natpmp=yes',
    'enable_upnp=yes',
    // Clients may only map ports to their own address (RFC 6887 §11.1 for PCP's own check).
    'secure_mode=yes',
    'system_uptime=yes',
    'notify_interval=30',
    'clean_ruleset_interval=600',
    `uuid=${c.uuid}`,
    `lease_file=${c.leaseFile}`,
    'upnp_table_name=miniupnpd',
    'upnp_nat_table_name=miniupnpd',
    'upnp_forward_chain=miniupnpd',
    'upnp_nat_chain=prerouting_miniupnpd',
    'upnp_nat_postrouting_chain=postrouting_miniupnpd',
    // RFC 6887 §15: the server may clamp lifetimes; 2.3.1's defaults, written down.
    'min_lifetime=120',
    'max_lifetime=86400',
    // Every internal port (see the file comment: an uncovered port costs 30 s per request).
    `allow 1-65535 ${c.lanPrefix} 1-65535`,
    'deny 0-65535 0.0.0.0/0 0-65535',
    '',
  ].join('\n');
}

/** Files of one NAT's daemon under the lab's run directory. */
export interface MiniupnpdFiles {
  dir: string;
  conf: string;
  pid: string;
  leases: string;
  log: string;
}

export function miniupnpdFiles(labRunDir: string, nat: string): MiniupnpdFiles {
  const dir = join(labRunDir, nat);
  return {
    dir,
    conf: join(dir, 'miniupnpd.conf'),
    pid: join(dir, 'miniupnpd.pid'),
    leases: join(dir, 'miniupnpd.leases'),
    log: join(dir, 'miniupnpd.log'),
  };
}

/** A UUID derived from the namespace name, so a NAT keeps its UDN for its whole life. */
function uuidFor(ns: string): string {
  const hex = Buffer.from(ns.padEnd(16, '-').slice(-16)).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/**
 * Writes the config and starts miniupnpd in `ns` (foreground, `-d`, its log in the lab's run
 * directory); resolves once it listens on UDP 5351 and on its HTTP port. The table must be
 * loaded already (plan.ts puts it into the NAT's script). The daemon dies with the lab: the
 * teardown kills every process in its namespaces.
 */
export async function startMiniupnpd(
  ns: string,
  files: MiniupnpdFiles,
  lanPrefix: string,
  opts: MiniupnpdOptions,
  detached: boolean,
): Promise<ChildProcess> {
  const bin = miniupnpdBinary(opts.igdVersion ?? 2);
  mkdirSync(files.dir, { recursive: true, mode: 0o700 });
  writeFileSync(
    files.conf,
    miniupnpdConfig({ lanPrefix, leaseFile: files.leases, uuid: uuidFor(ns) }),
  );
  writeFileSync(files.leases, '');
  const logFd = openSync(files.log, 'a');
  const child = spawn('ip', ['netns', 'exec', ns, bin, '-f', files.conf, '-d', '-P', files.pid], {
    stdio: ['ignore', logFd, logFd],
    detached,
  });
  closeSync(logFd);
  child.on('error', () => {});
  if (detached) child.unref();
  const deadline = performance.now() + SETUP_STEP_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new NetsimError(
        NETSIM_ERR.SETUP_FAILED,
        `miniupnpd in ${ns} exited ${child.exitCode ?? child.signalCode}; log: ${files.log}`,
      );
    }
    const ss = await run('ip', ['netns', 'exec', ns, 'ss', '-H', '-lnut']);
    if (ss.stdout.includes(':5351 ') && ss.stdout.includes(`:${MINIUPNPD_HTTP_PORT} `)) {
      return child;
    }
    if (performance.now() > deadline) {
      child.kill('SIGKILL');
      throw new NetsimError(NETSIM_ERR.SETUP_FAILED, `miniupnpd in ${ns} did not start`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}
