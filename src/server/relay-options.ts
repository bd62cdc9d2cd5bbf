/**
 * `natpush relay`'s options: the one schema (flags, defaults, help, validation) and what it turns
 * into — the TURN server's options (src/relay) and the worker settings.
 */
import os from 'node:os';
import { z } from 'zod';
import type { UdpNetwork } from '../net/index.js';
import type { TurnServerOptions } from '../relay/index.js';
import {
  DEFAULT_MAX_ALLOCATIONS,
  DEFAULT_MAX_ALLOCATIONS_PER_IP,
  DEFAULT_MAX_ALLOCATIONS_PER_USER,
  DEFAULT_REALM,
  DEFAULT_TURN_PORT,
} from '../relay/index.js';
import { jsonLogger, type Logger } from '../util/logger.js';
import { relayCredentials } from './relay-credentials.js';
import { SECRET_ENV, type Warn } from './secrets.js';
import { count, logLevel, metricsOptions, port, relayFleetOptions } from './options-schema.js';
import { MAX_WORKERS } from './workers/constants.js';

export const WORKERS_MODES = ['reuseport', 'redirect'] as const;
export type WorkersMode = (typeof WORKERS_MODES)[number];

export const relaySchema = z.object({
  listen: z.string().min(1).default('0.0.0.0').describe('listening address (UDP and TCP)'),
  port: port('UDP listening port (0 = any)', DEFAULT_TURN_PORT),
  tcp: z
    .boolean()
    .default(true)
    .describe('also listen on TCP (RFC 8656 §3.1); --no-tcp to disable'),
  'tcp-port': z
    .number()
    .int()
    .min(0)
    .max(65_535)
    .optional()
    .describe('TCP port; default: the UDP port (with --port 0: any)'),
  'relay-address': z
    .string()
    .optional()
    .describe(
      'local address for relayed sockets; default: --listen, or the first non-loopback IPv4',
    ),
  'external-address': z
    .string()
    .optional()
    .describe('address advertised in XOR-RELAYED-ADDRESS behind a 1:1 NAT'),
  realm: z.string().min(1).default(DEFAULT_REALM).describe('REALM of the long-term credentials'),
  secret: z
    .string()
    .optional()
    .describe(
      `TURN REST shared secret (coturn static-auth-secret); visible to all local users in argv: prefer --secret-file or $${SECRET_ENV.turnSecret}`,
    ),
  'secret-file': z
    .string()
    .optional()
    .describe(`file holding the shared secret (default: $${SECRET_ENV.turnSecret})`),
  user: z
    .array(z.string())
    .default([])
    .describe(
      `static user name:password (repeatable; visible in argv: prefer $${SECRET_ENV.turnUsers}, one per line)`,
    ),
  'allow-peer': z
    .array(z.string())
    .default([])
    .describe('CIDR of otherwise refused peers to allow (labs)'),
  'allow-loopback-peers': z
    .boolean()
    .default(false)
    .describe('allow relaying to 127.0.0.0/8 and ::1 (tests only)'),
  'max-allocations': count('allocations on the whole server (508 beyond)', DEFAULT_MAX_ALLOCATIONS),
  'user-quota': count('allocations per user (486 beyond)', DEFAULT_MAX_ALLOCATIONS_PER_USER),
  'ip-quota': count(
    'allocations per client IPv4 address or IPv6 /64 (486 beyond)',
    DEFAULT_MAX_ALLOCATIONS_PER_IP,
  ),
  'user-bps': count('relayed bytes/s per user, 0 = unlimited', 0, 0),
  'total-bps': count('relayed bytes/s of the whole relay, 0 = unlimited', 0, 0),
  'stats-interval': count('log counters every N seconds (0 = never)', 0, 0),
  workers: z
    .number()
    .int()
    .min(1)
    .max(MAX_WORKERS)
    .default(1)
    .describe(
      'relay processes. reuseport mode (default): N processes bind the same UDP port with SO_REUSEPORT ' +
        'and the kernel keeps each client on one of them (no redirection; a worker that dies is replaced); ' +
        'the port is shared by the udp_mmsg addon (--udp-io mmsg, the default) on any Node, or by ' +
        "node:dgram's reusePort on Node >= 22.12; with neither (--udp-io dgram on Node 20, or no addon " +
        'built) exit 2 with NATPUSH_ERR_WORKERS_UNSUPPORTED. TCP connections are handed round robin to ' +
        'the workers by this process (node:cluster, any Node). Allocation quotas stay whole-server; ' +
        '--user-bps/--total-bps are split evenly',
    ),
  'workers-mode': z
    .enum(WORKERS_MODES)
    .default('reuseport')
    .describe(
      'how --workers N > 1 shares the load: reuseport (every client, no redirection) or redirect ' +
        '(this process answers Allocate with 300 Try Alternate toward N workers on ports of their own; ' +
        'only clients that follow ALTERNATE-SERVER; any Node, any --udp-io)',
    ),
  'peer-gate': z
    .boolean()
    .default(true)
    .describe(
      "with --redis: relay only between the cluster's peers in rendezvous — a permission only " +
        'for a registered peer, toward an address where a fleet relay saw a peer it is in ' +
        'rendezvous with (while Redis is down, new permissions are refused; README "Scale-out ' +
        'with Redis"); ' +
        '--no-peer-gate: a plain TURN relay for whoever holds its credentials',
    ),
  'udp-io': z
    .enum(['mmsg', 'dgram'])
    .default('mmsg')
    .describe(
      'UDP input/output of the listener and every relayed socket: mmsg reads and relays a batch of datagrams per syscall (recvmmsg/sendmmsg, Linux, the native addon npm run build compiles; node:dgram with a warning without it; datagrams over 4096 bytes are dropped, counted as truncated), dgram one per syscall',
    ),
  ...metricsOptions,
  'log-level': logLevel('info'),
  ...relayFleetOptions,
});

export type RelayArgs = z.input<typeof relaySchema>;
export type RelayOptions = z.output<typeof relaySchema>;

/** The first non-internal IPv4 address, for relayed sockets when listening on 0.0.0.0. */
export function defaultRelayAddress(listen: string): string {
  if (listen !== '0.0.0.0' && listen !== '::') return listen;
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

export interface RelayDeps {
  /** Where NATPUSH_* secrets are read from. Default: none (a library caller passes them). */
  env?: NodeJS.ProcessEnv;
  warn?: Warn;
  logger?: Logger;
  /** Default: real sockets as --udp-io says. */
  net?: UdpNetwork;
  /** Relayed sockets' (TurnServerOptions.relayNet); default `net`, or as --udp-io says. */
  relayNet?: UdpNetwork;
}

/** The TURN server's options from the validated relay options (one process). */
export function turnServerOptions(o: RelayOptions, deps: RelayDeps = {}): TurnServerOptions {
  const allow = [...o['allow-peer']];
  if (o['allow-loopback-peers']) allow.push('127.0.0.0/8', '::1/128');
  // `--port 0` with TCP and no --tcp-port: let TCP pick its own free port too.
  const tcpPort = o['tcp-port'] ?? o.port;
  return {
    ...(deps.net ? { net: deps.net } : { udpIo: o['udp-io'] }),
    ...(deps.relayNet ? { relayNet: deps.relayNet } : {}),
    logger: deps.logger ?? jsonLogger(o['log-level']),
    listenAddress: o.listen,
    port: o.port,
    ...(o.tcp ? { tcpPort } : {}),
    relayAddress: o['relay-address'] ?? defaultRelayAddress(o.listen),
    ...(o['external-address'] ? { externalAddress: o['external-address'] } : {}),
    realm: o.realm,
    credentials: relayCredentials(o, deps.env ?? {}, deps.warn ?? (() => {})),
    peerPolicy: { allow },
    maxAllocations: o['max-allocations'],
    maxAllocationsPerUser: o['user-quota'],
    maxAllocationsPerIp: o['ip-quota'],
    userBytesPerSecond: o['user-bps'],
    totalBytesPerSecond: o['total-bps'],
  };
}
