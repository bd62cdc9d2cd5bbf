/** Options shared by the peer commands (`id`, `listen`, `send`), parsed at the CLI edge. */
import type { Argv } from 'yargs';
import type { AllowPolicy } from '../peer/contacts.js';
import { checkServerUrl } from '../net/host-port.js';
import { isPeerId } from '../signaling/identity.js';
import { defaultIdentityPath } from '../peer/identity-file.js';
import { DEFAULT_PORT } from '../signaling/constants.js';
import { ID_PATTERN } from '../signaling/protocol-fields.js';
import { mmsgUnavailable } from '../net/mmsg-binding.js';
import type { UdpIo } from '../net/mmsg-network.js';
import { PEER_UDP_IO_DEFAULT } from '../peer/peer.js';

/** `region` for Peer options, only when `--region` was given (hello carries it only then). */
export function regionOption(a: { region?: string }): { region?: string } {
  return a.region !== undefined ? { region: a.region } : {};
}

export interface PeerArgs {
  server: string;
  identity: string;
  'peer-token'?: string;
  region?: string;
  json: boolean;
  portmap: boolean;
  'udp-io': UdpIo;
}

/**
 * `udpIo` for Peer options. Without the addon the Peer uses node:dgram; the CLI says so on
 * stderr once (the Peer's own warning goes to its logger, which the commands leave silent).
 */
export function udpIoOption(a: { 'udp-io': UdpIo }): { udpIo: UdpIo } {
  const why = a['udp-io'] === 'mmsg' ? mmsgUnavailable() : undefined;
  if (why !== undefined && !warnedUdpIo) {
    warnedUdpIo = true;
    process.stderr.write(`natpush: --udp-io mmsg unavailable, using node:dgram: ${why}\n`);
  }
  return { udpIo: a['udp-io'] };
}
let warnedUdpIo = false;

export function withPeerOptions<T>(y: Argv<T>) {
  return (
    y
      .option('server', {
        type: 'string',
        describe: 'natpush server URL ($NATPUSH_SERVER)',
        default: process.env.NATPUSH_SERVER ?? `http://127.0.0.1:${DEFAULT_PORT}`,
      })
      .option('identity', {
        type: 'string',
        describe: 'identity file (Ed25519 key, created on first use, mode 0600)',
        default: process.env.NATPUSH_IDENTITY ?? defaultIdentityPath(),
      })
      .option('peer-token', {
        type: 'string',
        describe: 'admission token, if the server requires one',
      })
      .option('region', {
        type: 'string',
        describe:
          "this peer's region label ([A-Za-z0-9_.:-]{1,64}): serve hands it credentials for a relay of that region when its fleet has one",
      })
      // A malformed URL is NATPUSH_ERR_USAGE (exit 2) here, not "Invalid URL" (exit 1) later.
      .check((a) => Boolean(checkServerUrl(a.server, '--server')))
      .check((a) =>
        a.region === undefined || ID_PATTERN.test(a.region)
          ? true
          : `--region must be 1-64 of [A-Za-z0-9_.:-], got ${JSON.stringify(a.region)}`,
      )
      .option('json', { type: 'boolean', default: false, describe: 'JSON lines instead of text' })
      .option('portmap', {
        type: 'boolean',
        default: true,
        describe:
          'ask the router for a port mapping of the direct-path socket (PCP, NAT-PMP, UPnP-IGD; deleted on exit); --no-portmap: never',
      })
      .option('udp-io', {
        choices: ['mmsg', 'dgram'] as const,
        default: PEER_UDP_IO_DEFAULT,
        describe:
          "the direct-path socket's UDP input/output: mmsg = batched recvmmsg/sendmmsg (Linux, the built udp_mmsg addon; else node:dgram with a warning), dgram = node:dgram",
      })
  );
}

/** `--allow anyone` or `--allow ID,ID…` (default: peers this one exchanged notifications with). */
export function withAllowOption<T>(y: Argv<T>) {
  return y.option('allow', {
    type: 'string',
    describe:
      "who may see this peer online and open sessions (ping, direct paths) to it: 'anyone' or comma-separated peer ids (default: peers it exchanged notifications with)",
  });
}

/** Parse `--allow`; `{ error }` is a usage error message. */
export function parseAllow(v: string | undefined): AllowPolicy | undefined | { error: string } {
  if (v === undefined) return undefined;
  if (v === 'anyone') return 'anyone';
  const ids = v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = ids.find((i) => !isPeerId(i));
  if (bad !== undefined) return { error: `--allow: not a peer id: ${bad}` };
  return ids;
}
