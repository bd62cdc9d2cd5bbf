/**
 * `natpush nat-check --server HOST:PORT [--server ...] [--json] [--lifetime SECONDS]
 * [--no-portmap]` — how does this network's NAT behave (RFC 5780 mapping and filtering, the
 * port-allocation pattern, what port mapping the router offers), and what that means for
 * reaching peers.
 */
import os from 'node:os';
import type { CommandModule } from 'yargs';
import { nodeUdpNetwork } from '../../net/node-udp.js';
import type { Endpoint } from '../../net/udp.js';
import { parseHostPort } from '../../net/host-port.js';
import type { NatReport, PortMappingReport } from '../../stun/nat-discovery.js';
import { measureAllocation } from '../../punch/allocation-probe.js';
import { PortMapper } from '../../punch/portmap/index.js';
import { systemClock } from '../../util/clock.js';
import { discoverNat } from '../../stun/nat-discovery.js';
import { formatNatReport } from '../../stun/nat-report.js';
import { tcpBinding } from '../../stun/tcp-probe.js';
import { COMMON_ERR, NatpushError } from '../../util/errors.js';

export interface NatCheckArgs {
  server: string[];
  json: boolean;
  lifetime: number;
  bind?: string;
  tcp: boolean;
  /** Ask the router for a test port mapping (PCP, NAT-PMP, UPnP-IGD); the CLI defaults to yes,
   *  `--no-portmap` skips; callers of runNatCheck opt in. */
  portmap?: boolean;
}

/** Lifetime steps up to `maxSeconds`: common NAT timeouts (Linux 30 s unreplied / 120 s,
 *  RFC 4787 REQ-5 ≥ 120 s, many home routers 60–300 s). */
export function lifetimeSteps(maxSeconds: number): number[] {
  return [5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600]
    .filter((s) => s <= maxSeconds)
    .map((s) => s * 1000);
}

function localAddresses(): string[] {
  return Object.values(os.networkInterfaces())
    .flat()
    .map((i) => i?.address)
    .filter((a): a is string => a !== undefined);
}

export async function runNatCheck(args: NatCheckArgs): Promise<NatReport> {
  // RFC 8489 §9: 3478 when no port is given; never port 0 (a server to reach, not a listener).
  const servers: Endpoint[] = args.server.map((s) =>
    parseHostPort(s, { flag: '--server', defaultPort: 3478 }),
  );
  if (servers.length === 0) {
    throw new NatpushError(
      COMMON_ERR.USAGE,
      'give at least one --server HOST:PORT (an RFC 5780 server such as `natpush stun --alternate ...`, `natpush serve --stun-alternate ...` or coturn finds the most)',
    );
  }
  const report = await discoverNat({
    net: nodeUdpNetwork,
    servers,
    localAddresses: localAddresses(),
    ...(args.bind ? { bindAddress: args.bind } : {}),
    ...(args.lifetime > 0 ? { lifetimeStepsMs: lifetimeSteps(args.lifetime) } : {}),
    ...(args.tcp ? { tcpProbe: (s: Endpoint) => tcpBinding(s) } : {}),
  });
  const answered = report.servers.find((s) => s.mapped)?.server;
  const [allocation, portMapping] = await Promise.all([
    answered && report.behindNat !== false
      ? measureAllocation({ net: nodeUdpNetwork, server: answered }).catch(() => undefined)
      : undefined,
    args.portmap === true ? checkPortMapping(report.mapped?.address) : undefined,
  ]);
  if (allocation) report.allocation = allocation;
  if (portMapping) report.portMapping = portMapping;
  return report;
}

/**
 * What the router offers, and a real test mapping of a fresh local port, deleted again at once
 * (nat-check leaves nothing behind on the router).
 */
async function checkPortMapping(reflexive: string | undefined): Promise<PortMappingReport> {
  const socket = await nodeUdpNetwork.bindUdp();
  const mapper = new PortMapper({ net: nodeUdpNetwork, clock: systemClock });
  const t0 = performance.now();
  try {
    const m = await mapper.map(socket.address().port, {
      ...(reflexive ? { reflexiveAddress: reflexive } : {}),
    });
    const ms = Math.round(performance.now() - t0);
    await mapper.whenProbed();
    return {
      offered: Object.fromEntries(mapper.outcomes),
      granted: {
        via: m.via,
        external: m.external,
        lifetimeSec: m.lifetimeSec,
        ms,
      },
    };
  } catch (e) {
    return {
      offered: Object.fromEntries(mapper.outcomes),
      error: { code: (e as { code?: string }).code ?? 'ERROR', message: (e as Error).message },
    };
  } finally {
    await mapper.close();
    await socket.close();
  }
}

export const natCheckCommand: CommandModule<object, NatCheckArgs> = {
  command: 'nat-check',
  describe: "Find out how this network's NAT behaves (RFC 5780) and which peers need a relay",
  builder: (y) =>
    y
      .option('server', {
        type: 'string',
        array: true,
        default: [] as string[],
        describe:
          'STUN server HOST:PORT (repeat for several; an RFC 5780 server gives the full picture)',
      })
      .option('json', { type: 'boolean', default: false, describe: 'Print the report as JSON' })
      .option('lifetime', {
        type: 'number',
        default: 0,
        describe: 'Also measure the binding lifetime, idling up to this many seconds',
      })
      .option('bind', { type: 'string', describe: 'Local address to probe from' })
      .option('portmap', {
        type: 'boolean',
        default: true,
        describe:
          'Ask the router for a test port mapping (PCP, NAT-PMP, UPnP-IGD), deleted again; --no-portmap skips',
      })
      .option('tcp', {
        type: 'boolean',
        default: true,
        describe: 'Also try STUN over TCP (tells blocked UDP from a dead server)',
      })
      .example(
        '$0 nat-check --server 203.0.113.1:3478',
        'classify the NAT against an RFC 5780 server',
      ) as never,
  handler: async (args) => {
    const report = await runNatCheck(args);
    console.log(args.json ? JSON.stringify(report, null, 2) : formatNatReport(report));
  },
};
