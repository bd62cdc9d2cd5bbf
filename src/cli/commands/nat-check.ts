/**
 * `natpush nat-check --server HOST:PORT [--server ...] [--json] [--lifetime SECONDS]` — how does
 * this network's NAT behave, and what does that mean for reaching peers.
 */
import os from 'node:os';
import type { CommandModule } from 'yargs';
import { nodeUdpNetwork } from '../../net/node-udp.js';
import type { Endpoint } from '../../net/udp.js';
import { parseEndpoint } from '../../net/udp.js';
import type { NatReport } from '../../stun/nat-discovery.js';
import { discoverNat } from '../../stun/nat-discovery.js';
import { formatNatReport } from '../../stun/nat-report.js';
import { tcpBinding } from '../../stun/tcp-probe.js';
import { NatpushError } from '../../util/errors.js';

export interface NatCheckArgs {
  server: string[];
  json: boolean;
  lifetime: number;
  bind?: string;
  tcp: boolean;
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
  const servers: Endpoint[] = [];
  for (const s of args.server) {
    try {
      servers.push(parseEndpoint(s, 3478));
    } catch (err) {
      throw new NatpushError('NATPUSH_ERR_USAGE', `--server: ${(err as Error).message}`);
    }
  }
  if (servers.length === 0) {
    throw new NatpushError(
      'NATPUSH_ERR_USAGE',
      'give at least one --server HOST:PORT (an RFC 5780 server such as `natpush stun --alternate ...` or coturn finds the most)',
    );
  }
  return discoverNat({
    net: nodeUdpNetwork,
    servers,
    localAddresses: localAddresses(),
    ...(args.bind ? { bindAddress: args.bind } : {}),
    ...(args.lifetime > 0 ? { lifetimeStepsMs: lifetimeSteps(args.lifetime) } : {}),
    ...(args.tcp ? { tcpProbe: (s: Endpoint) => tcpBinding(s) } : {}),
  });
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
