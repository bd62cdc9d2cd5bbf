/**
 * `natpush serve`: the whole server in one process with embedded defaults — no config needed.
 * Composes services that each can also run alone: the signaling server (WebSocket + HTTP API +
 * mailbox) and the STUN server (UDP, so peers learn their server-reflexive address from the same
 * host they signal through) and the TURN relay, whose short-lived credentials the signaling server
 * hands to authenticated peers (`turn-credentials`).
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import type { CommandModule } from 'yargs';
import { RELAY_CONFIG_ERR } from '../../relay/errors.js';
import { DEFAULT_PORT, LIMITS } from '../../signaling/constants.js';
import { prepareDataDir } from '../../signaling/data-dir.js';
import { Rendezvous } from '../../signaling/rendezvous.js';
import { startSignalingServer } from '../../signaling/server.js';
import { openCluster } from '../../cluster/open-cluster.js';
import { MemoryStore } from '../../signaling/store/memory-store.js';
import { SqliteStore } from '../../signaling/store/sqlite-store.js';
import { StunServer } from '../../stun/server.js';
import { jsonLogger, type LogLevel, type Logger } from '../../util/logger.js';
import type { SignalingServer } from '../../signaling/server.js';
import type { TurnCredentialsOptions } from '../../signaling/turn-credentials.js';
import { systemClock, type Clock } from '../../util/clock.js';
import { NatpushError } from '../../util/errors.js';
import {
  argvSecretWarning,
  readSecretFile,
  SECRET_ENV,
  secretLines,
  startServeRelay,
} from './relay.js';

export interface ServeArgs {
  port: number;
  host: string;
  'data-dir': string;
  store: 'sqlite' | 'memory';
  'api-key'?: string[];
  'api-key-file'?: string;
  'peer-token'?: string[];
  'peer-token-file'?: string;
  stun: boolean;
  'stun-port': number;
  'log-level': LogLevel;
  relay: boolean;
  'relay-port': number;
  'relay-address'?: string;
  'relay-public-address'?: string;
  'turn-secret'?: string;
  'turn-secret-file'?: string;
  'turn-credential-ttl': number;
  'relay-peer-gate': boolean;
  'open-relay-i-know': boolean;
  /** Redis URL: several serve nodes share presence, routing and the mailbox (issue 12). */
  redis?: string;
}

/** One running part of `serve`. */
export interface Service {
  name: string;
  /** Where it listens, for the start-up lines. */
  endpoints: string[];
  close(): Promise<void>;
}

export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.XDG_DATA_HOME ? join(env.XDG_DATA_HOME, 'natpush') : resolve('.natpush');
}

/**
 * With no `--api-key`, an API key is generated once into the data directory (mode 0600) so
 * HTTP posting works out of the box without ever being open to anyone.
 */
function apiKeys(dataDir: string, given: string[] | undefined): { keys: string[]; file?: string } {
  if (given && given.length > 0) return { keys: given };
  const file = join(dataDir, 'api-key');
  try {
    return { keys: [readFileSync(file, 'utf8').trim()], file };
  } catch {
    const key = randomBytes(24).toString('base64url');
    writeFileSync(file, key + '\n', { mode: 0o600, flag: 'wx' });
    chmodSync(file, 0o600);
    return { keys: [key], file };
  }
}

/** serve's secrets, resolved at the edge from flags, files and the environment. */
export interface ServeSecrets {
  apiKeys: string[];
  peerTokens: string[];
  turnSecret: string | undefined;
}

/**
 * Issue 8, finding 11: secrets never need argv. Each comes from its `--*-file` (one per line) or
 * its environment variable; the old flags still work, with a warning on stderr, because
 * /proc/PID/cmdline shows them to every local user. Values from all given sources are combined.
 */
export function serveSecrets(
  a: ServeArgs,
  env: NodeJS.ProcessEnv,
  warn: (line: string) => void,
): ServeSecrets {
  const from = (
    flag: string,
    values: string[] | undefined,
    file: string | undefined,
    envName: string,
  ): string[] => {
    if (values && values.length > 0)
      warn(argvSecretWarning(`--${flag}`, `--${flag}-file or $${envName}`));
    return [
      ...(values ?? []),
      ...(file ? readSecretFile(file, warn) : []),
      ...secretLines(env[envName]),
    ];
  };
  const turn = from(
    'turn-secret',
    a['turn-secret'] !== undefined ? [a['turn-secret']] : undefined,
    a['turn-secret-file'],
    SECRET_ENV.turnSecret,
  );
  return {
    apiKeys: from('api-key', a['api-key'], a['api-key-file'], SECRET_ENV.apiKey),
    peerTokens: from('peer-token', a['peer-token'], a['peer-token-file'], SECRET_ENV.peerToken),
    turnSecret: turn[0],
  };
}

/** What tests inject into the composition (the CLI uses the defaults). */
export interface ServeDeps {
  /** The relay's clock (credential expiry is checked against it). Default: the system clock. */
  relayClock?: Clock;
  /** Where NATPUSH_* secrets are read from. Default: process.env. */
  env?: NodeJS.ProcessEnv;
  /** Warnings (secrets on argv). Default: stderr. */
  warn?: (line: string) => void;
}

/**
 * Start every part of `serve`. The relay starts first because the signaling server mints
 * credentials for it (`turn-credentials`): its secret and ports go into the signaling options.
 */
export async function startServices(
  a: ServeArgs,
  logger: Logger,
  deps: ServeDeps = {},
): Promise<{ services: Service[]; apiKeyFile?: string }> {
  const secrets = serveSecrets(
    a,
    deps.env ?? process.env,
    deps.warn ?? ((l) => void process.stderr.write(l + '\n')),
  );
  refuseOpenRelay(a, secrets);
  const dataDir = prepareDataDir(a['data-dir'], logger);
  const { keys, file } = apiKeys(dataDir, secrets.apiKeys);
  const rendezvous =
    a.relay && a['relay-peer-gate'] ? new Rendezvous({ clock: systemClock }) : undefined;
  const relay = a.relay
    ? await startRelay(a, secrets, dataDir, logger, deps, rendezvous)
    : undefined;
  let signaling: SignalingServer;
  let cluster: Awaited<ReturnType<typeof openCluster>> | undefined;
  try {
    const redisUrl = a.redis ?? (deps.env ?? process.env).NATPUSH_REDIS_URL;
    cluster = redisUrl ? await openCluster(redisUrl, logger) : undefined;
    const store =
      cluster?.store ??
      (a.store === 'memory' ? new MemoryStore() : new SqliteStore(join(dataDir, 'mailbox.sqlite')));
    signaling = await startSignalingServer({
      port: a.port,
      host: a.host,
      store,
      ...(cluster ? { cluster: cluster.cluster, sessionSecret: cluster.sessionSecret } : {}),
      apiKeys: keys,
      peerTokens: secrets.peerTokens,
      ...(relay ? { turn: turnOptions(a, relay) } : {}),
      ...(rendezvous ? { rendezvous } : {}),
      logger,
    });
  } catch (err) {
    await cluster?.cluster.close(); // its Redis connections would keep the process alive
    await relay?.server.close();
    throw err;
  }
  const services: Service[] = [];
  services.push({
    name: 'signaling',
    endpoints: [signaling.url, signaling.url.replace(/^http/, 'ws') + '/v1/ws'],
    close: () => signaling.close(),
  });
  if (a.stun) {
    try {
      services.push(await startStun(a, logger, signaling));
    } catch (err) {
      // Do not leave the signaling server (and its SQLite handle) and the relay bound when the
      // last service cannot start: the caller gets the error and nothing is left listening.
      await signaling.close();
      await relay?.server.close();
      throw err;
    }
  }
  if (relay) services.push(relayService(relay, signaling));
  // Shutdown closes services in reverse order.
  return { services, ...(file ? { apiKeyFile: file } : {}) };
}

type ServeRelay = Awaited<ReturnType<typeof startServeRelay>>;

function isLoopback(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || (isIP(h) === 4 && h.startsWith('127.'));
}

/**
 * Issue 8, finding 3: refuse to run an open relay. It would be one when the relay is reachable
 * from other hosts (non-loopback --host), anyone may register (no --peer-token) and the peer gate
 * that limits relaying to natpush peers in rendezvous is off — unless the operator says so.
 */
export function refuseOpenRelay(a: ServeArgs, secrets: Pick<ServeSecrets, 'peerTokens'>): void {
  if (!a.relay || a['relay-peer-gate'] || isLoopback(a.host)) return;
  if (secrets.peerTokens.length > 0 || a['open-relay-i-know']) return;
  throw new NatpushError(
    RELAY_CONFIG_ERR.OPEN_RELAY,
    `refusing to start: with --no-relay-peer-gate, open registration and --host ${a.host} the ` +
      'TURN relay would relay for anyone to any host. Keep the peer gate (the default), close ' +
      'registration with --peer-token, listen on loopback, run --no-relay, or pass ' +
      '--open-relay-i-know.',
  );
}

/** The credentials serve hands to peers name the relay's own ports and its shared secret. */
function turnOptions(a: ServeArgs, relay: ServeRelay): TurnCredentialsOptions {
  const { udp, tcp } = relay.server.addresses();
  return {
    secret: relay.secret,
    udpPort: udp.port,
    ...(tcp ? { tcpPort: tcp.port } : {}),
    ...(a['relay-public-address'] ? { publicHost: a['relay-public-address'] } : {}),
    ttlSeconds: a['turn-credential-ttl'],
  };
}

/**
 * STUN serves UDP and TCP on one port number. With port 0 the UDP port is picked first and the
 * same number may already be taken on TCP; then pick again (a few times) instead of failing.
 */
async function startStunServer(host: string, port: number, logger: Logger): Promise<StunServer> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await StunServer.start({ listen: { address: host, port }, tcp: true, logger });
    } catch (err) {
      const inUse = (err as NodeJS.ErrnoException).code === 'EADDRINUSE';
      if (port !== 0 || !inUse || attempt >= 5) throw err;
    }
  }
}

/** STUN (RFC 8489 Binding over UDP and TCP) on the same host, counted in `/metrics`. */
async function startStun(
  a: ServeArgs,
  logger: Logger,
  signaling: SignalingServer,
): Promise<Service> {
  const stun = await startStunServer(a.host, a['stun-port'], logger);
  const m = signaling.context.metrics.registry;
  m.gauge('natpush_stun_requests_received', 'STUN packets received.', () => stun.stats.received);
  m.gauge(
    'natpush_stun_binding_answered',
    'STUN Binding requests answered.',
    () => stun.stats.answered.binding,
  );
  const endpoints = stun.addresses().map((e) => `stun:${e.address}:${e.port} (udp)`);
  const tcp = stun.tcpAddress();
  if (tcp) endpoints.push(`stun:${tcp.address}:${tcp.port} (tcp)`);
  return { name: 'stun', endpoints, close: () => stun.close() };
}

/** The TURN relay (RFC 8656, UDP and TCP) with TURN REST credentials. */
async function startRelay(
  a: ServeArgs,
  secrets: ServeSecrets,
  dataDir: string,
  logger: Logger,
  deps: ServeDeps,
  peerGate: Rendezvous | undefined,
): Promise<ServeRelay> {
  const publicAddress = await externalAddressOf(a['relay-public-address'], a['relay-address']);
  return startServeRelay({
    dataDir,
    host: a.host,
    port: a['relay-port'],
    ...(secrets.turnSecret ? { secret: secrets.turnSecret } : {}),
    ...(a['relay-address'] ? { relayAddress: a['relay-address'] } : {}),
    // Behind a 1:1 NAT the relayed sockets bind a private address; peers must be told the public
    // one in XOR-RELAYED-ADDRESS (RFC 8656 §7.2), not only in the turn: URLs (finding 11).
    ...(publicAddress ? { externalAddress: publicAddress } : {}),
    ...(peerGate ? { peerGate } : {}),
    ...(deps.relayClock ? { clock: deps.relayClock } : {}),
    logger,
  });
}

/**
 * XOR-RELAYED-ADDRESS must be an IP (RFC 8656 §14.5): a host name given as
 * --relay-public-address is resolved once at start-up, in the relayed sockets' family.
 */
async function externalAddressOf(
  publicAddress: string | undefined,
  relayAddress: string | undefined,
): Promise<string | undefined> {
  if (!publicAddress || isIP(publicAddress)) return publicAddress;
  const family = relayAddress && isIP(relayAddress) === 6 ? 6 : 4;
  try {
    return (await lookup(publicAddress, { family })).address;
  } catch (err) {
    throw new NatpushError(
      'NATPUSH_ERR_USAGE',
      `--relay-public-address ${publicAddress} does not resolve to an IPv${family} address: ${(err as Error).message}`,
    );
  }
}

/** The relay as a service of serve, counted in `/metrics`. */
function relayService(relay: ServeRelay, signaling: SignalingServer): Service {
  const m = signaling.context.metrics.registry;
  const c = relay.server.counters;
  m.gauge('natpush_turn_allocations', 'TURN allocations held.', () => relay.server.allocationCount);
  m.gauge(
    'natpush_turn_relayed_packets',
    'Packets relayed (both directions).',
    () => c.toPeerPackets + c.toClientPackets,
  );
  m.gauge(
    'natpush_turn_peer_gate_refused',
    'Permissions refused by the peer gate (not toward a peer in rendezvous).',
    () => c.peerGateRefused,
  );
  const connectionReasons = new Set(['tcp-total', 'tcp-per-ip', 'tcp-no-allocation']);
  m.gauge('natpush_turn_dropped_packets', 'Packets dropped by the relay (all reasons).', () =>
    Object.entries(c.dropped).reduce((x, [k, y]) => (connectionReasons.has(k) ? x : x + y), 0),
  );
  m.gauge(
    'natpush_turn_tcp_connections_closed',
    'TURN/TCP connections refused (caps) or closed for holding no allocation.',
    () => c.dropped['tcp-total'] + c.dropped['tcp-per-ip'] + c.dropped['tcp-no-allocation'],
  );
  return { name: 'turn', endpoints: relay.endpoints, close: () => relay.server.close() };
}

export const serveCommand: CommandModule<object, ServeArgs> = {
  command: 'serve',
  describe: 'Run the natpush server (signaling, HTTP API, mailbox) with embedded defaults',
  builder: (y) =>
    y
      .option('port', {
        type: 'number',
        default: DEFAULT_PORT,
        describe: 'TCP port for HTTP + WebSocket (0 = any free port)',
      })
      .option('host', { type: 'string', default: '0.0.0.0', describe: 'listen address' })
      .option('data-dir', {
        type: 'string',
        default: defaultDataDir(),
        describe: 'mailbox and keys ($XDG_DATA_HOME/natpush or ./.natpush)',
      })
      .option('store', {
        choices: ['sqlite', 'memory'] as const,
        default: 'sqlite' as const,
        describe: 'mailbox store',
      })
      .option('api-key-file', {
        type: 'string',
        describe: `file of API keys for POST /v1/peers/{id}/notifications, one per line (also $${SECRET_ENV.apiKey}; default: generated into the data dir)`,
      })
      .option('api-key', {
        type: 'string',
        array: true,
        describe:
          'an API key on the command line (visible to all local users: prefer --api-key-file)',
      })
      .option('peer-token-file', {
        type: 'string',
        describe: `file of peer tokens, one per line: peers must present one or an HMAC token minted from it (also $${SECRET_ENV.peerToken}; none = open registration)`,
      })
      .option('peer-token', {
        type: 'string',
        array: true,
        describe:
          'a peer token on the command line (visible to all local users: prefer --peer-token-file)',
      })
      .option('stun', {
        type: 'boolean',
        default: true,
        describe: 'also run the STUN server (--no-stun: do not)',
      })
      .option('stun-port', {
        type: 'number',
        default: 3478,
        describe: 'STUN port, UDP and TCP (RFC 8489 §9: 3478; 0 = any free port)',
      })
      .option('redis', {
        type: 'string',
        describe:
          'Redis URL (redis://, rediss://, unix:///path): share presence, routing and the mailbox with other serve nodes (also $NATPUSH_REDIS_URL; default: embedded SQLite)',
      })
      .option('log-level', {
        choices: ['debug', 'info', 'warn', 'error'] as const,
        default: 'info' as const,
      })
      .option('relay', {
        type: 'boolean',
        default: true,
        describe: 'run the TURN relay (RFC 8656); --no-relay to disable',
      })
      .option('relay-port', {
        type: 'number',
        default: 3479,
        describe:
          "UDP and TCP port of the TURN relay (0 = any free port; 3478 is the STUN server's)",
      })
      .option('relay-address', {
        type: 'string',
        describe: 'address for relayed sockets (default: --host, or the first non-loopback IPv4)',
      })
      .option('relay-public-address', {
        type: 'string',
        describe:
          'public address of the relay behind a 1:1 NAT: named in the turn: URLs handed to peers and, if an IP, advertised as XOR-RELAYED-ADDRESS (default: the address the peer reached serve at / --relay-address)',
      })
      .option('relay-peer-gate', {
        type: 'boolean',
        default: true,
        describe:
          'relay only between natpush peers: a permission is granted only toward an address serve has seen for a peer in rendezvous with the requester (--no-relay-peer-gate: a plain TURN server for every registered peer; then serve refuses to start on a non-loopback --host with open registration unless --peer-token or --open-relay-i-know)',
      })
      .option('open-relay-i-know', {
        type: 'boolean',
        default: false,
        describe:
          'allow --no-relay-peer-gate with open registration on a non-loopback --host: any new key pair may then relay to any public host (capped per peer, per IP and in all)',
      })
      .option('turn-secret-file', {
        type: 'string',
        describe: `file holding the TURN REST shared secret (also $${SECRET_ENV.turnSecret}; default: generated into the data dir as turn-secret)`,
      })
      .option('turn-secret', {
        type: 'string',
        describe:
          'the TURN secret on the command line (visible to all local users: prefer --turn-secret-file)',
      })
      .option('turn-credential-ttl', {
        type: 'number',
        default: LIMITS.turnCredentialTtlSeconds,
        describe: 'lifetime in seconds of the TURN credentials handed to authenticated peers',
      }),
  handler: async (a) => {
    const logger = jsonLogger(a['log-level']);
    const { services, apiKeyFile } = await startServices(a, logger);
    for (const s of services)
      for (const e of s.endpoints) console.log(`natpush serve: ${s.name} listening on ${e}`);
    if (apiKeyFile) console.log(`natpush serve: API key in ${apiKeyFile}`);
    await new Promise<void>((done) => {
      const stop = (sig: string) => {
        console.log(`natpush serve: ${sig}, shutting down`);
        void (async () => {
          for (const s of [...services].reverse()) {
            try {
              await s.close();
            } catch (err) {
              logger.error('service close failed', { service: s.name, err: String(err) });
            }
          }
          done();
        })();
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    });
    console.log('natpush serve: stopped');
  },
};
