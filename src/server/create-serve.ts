/**
 * `createServe(options)`: the whole server in one process — signaling (WebSocket + HTTP API +
 * mailbox), STUN (UDP and TCP, so peers learn their server-reflexive address from the host they
 * signal through) and the TURN relay, whose short-lived credentials the signaling server hands to
 * authenticated peers (`turn-credentials`). Each part can also run alone (createRelay,
 * createStun). Start-up is all or nothing: a part that cannot start closes the ones before it.
 * Its secrets are resolved first (serve-secrets.ts); which relays the credentials name is
 * serve-turn-credentials.ts.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import type { RelayPeerGate } from '../relay/index.js';
import { prepareDataDir } from '../signaling/data-dir.js';
import { Rendezvous } from '../signaling/rendezvous.js';
import { startSignalingServer, type SignalingServer } from '../signaling/server.js';
import { openCluster } from '../cluster/open-cluster.js';
import { MemoryStore } from '../signaling/store/memory-store.js';
import { SqliteStore } from '../signaling/store/sqlite-store.js';
import type { ClusterNode } from '../cluster/cluster-node.js';
import { clusterMetrics } from '../cluster/cluster-metrics.js';
import type { RelayFleet } from '../cluster/relay-fleet.js';
import { RendezvousPairs } from '../cluster/rendezvous-pairs.js';
import { openFleetPeerGate, type FleetPeerGate } from '../cluster/relay-peer-gate.js';
import { ServePeerGate } from '../cluster/serve-peer-gate.js';
import { StunServer } from '../stun/index.js';
import { systemClock, type Clock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import { jsonLogger } from '../util/logger.js';
import { optionError } from './errors.js';
import { parseOptions } from './options-schema.js';
import type { Warn } from './secrets.js';
import { relayMetrics, stunMetrics } from './server-metrics.js';
import { serveSchema, type ServeArgs, type ServeOptions } from './serve-options.js';
import { startServeRelay, type ServeRelay } from './serve-relay.js';
import {
  generatedApiKey,
  refuseOpenRelay,
  serveSecrets,
  type ServeSecrets,
} from './serve-secrets.js';
import { relayFleet, serveTurnOptions } from './serve-turn-credentials.js';
import { parseAlternate } from './stun-options.js';

/** One running part of `serve`. */
export interface Service {
  name: string;
  /** Where it listens, for the start-up lines. */
  endpoints: string[];
  close(): Promise<void>;
}

export interface Serve {
  /** In start order; close() closes them in reverse. */
  services: Service[];
  /** The generated API key file, when no key was given. */
  apiKeyFile?: string;
  close(): Promise<void>;
}

/** What tests and library callers inject (the CLI uses the defaults). */
export interface ServeDeps {
  logger?: Logger;
  /** The relay's clock (credential expiry is checked against it). Default: the system clock. */
  relayClock?: Clock;
  /** Where NATPUSH_* secrets are read from. Default: process.env. */
  env?: NodeJS.ProcessEnv;
  /** Warnings (secrets on argv). Default: stderr. */
  warn?: Warn;
}

const stderrWarn: Warn = (l) => void process.stderr.write(l + '\n');

/**
 * Start every part of `serve`. The relay starts before the signaling server because that mints
 * credentials for it (`turn-credentials`): its secret and ports go into the signaling options;
 * the cluster (--redis) before both, as the relay's peer gate reads it.
 */
export async function createServe(
  args: ServeArgs | ServeOptions,
  deps: ServeDeps = {},
): Promise<Serve> {
  const a = parseOptions(serveSchema, args as Record<string, unknown>);
  const logger = deps.logger ?? jsonLogger(a['log-level']);
  const secrets = serveSecrets(a, deps.env ?? process.env, deps.warn ?? stderrWarn);
  refuseOpenRelay(a, secrets);
  const dataDir = prepareDataDir(a['data-dir'], logger);
  const keys: { keys: string[]; file?: string } =
    secrets.apiKeys.length > 0 ? { keys: secrets.apiKeys } : generatedApiKey(dataDir);
  const redisUrl = a.redis ?? (deps.env ?? process.env).NATPUSH_REDIS_URL;
  const ownGate = a.relay && a['relay-peer-gate'];
  // What serve sees of its peers (rendezvous.ts): the gate of its own relay, and with --redis
  // also the source of what the fleet relays' gates read (seenInCluster below).
  const rendezvous = ownGate || redisUrl ? new Rendezvous({ clock: systemClock }) : undefined;
  let relay: ServeRelay | undefined;
  let signaling: SignalingServer;
  let cluster: Awaited<ReturnType<typeof openCluster>> | undefined;
  let fleetGate: FleetPeerGate | undefined;
  let fleet: RelayFleet | undefined;
  try {
    const peers = { ttlMs: a['peer-ttl-days'] * 86_400_000, max: a['max-peers'] };
    cluster = redisUrl ? await openCluster(redisUrl, logger, {}, peers) : undefined;
    if (cluster && rendezvous) seenInCluster(rendezvous, cluster.cluster, logger);
    // In a cluster, serve's own relay also admits what other nodes and fleet relays noted
    // (../cluster/serve-peer-gate.ts): peers on two nodes reach each other's relayed addresses.
    fleetGate =
      cluster && ownGate ? await openFleetPeerGate({ redisUrl: redisUrl!, logger }) : undefined;
    const gate = fleetGate ? new ServePeerGate(rendezvous!, fleetGate) : rendezvous;
    relay = a.relay
      ? await startRelay(a, secrets, dataDir, logger, deps, ownGate ? gate : undefined)
      : undefined;
    fleet = relayFleet(a, secrets, relay, cluster?.cluster, logger);
    await fleet?.start();
    const store =
      cluster?.store ??
      (a.store === 'memory'
        ? new MemoryStore({ peers })
        : new SqliteStore(join(dataDir, 'mailbox.sqlite'), { peers }));
    const turn = serveTurnOptions(a, secrets, relay, fleet);
    signaling = await startSignalingServer({
      port: a.port,
      host: a.host,
      store,
      ...(cluster ? { cluster: cluster.cluster, sessionSecret: cluster.sessionSecret } : {}),
      apiKeys: keys.keys,
      peerTokens: secrets.peerTokens,
      ...(turn ? { turn } : {}),
      ...(rendezvous ? { rendezvous } : {}),
      timing: { earlyAckMs: a['early-ack-ms'] },
      logger,
    });
  } catch (err) {
    fleet?.close();
    await cluster?.cluster.close(); // its Redis connections would keep the process alive
    await fleetGate?.close();
    await relay?.server.close();
    throw err;
  }
  clusterMetrics(signaling.context.metrics.registry, {
    ...(cluster ? { cluster: cluster.cluster } : {}),
    ...(fleet ? { fleet } : {}),
  });
  const services: Service[] = [
    {
      name: 'signaling',
      endpoints: [signaling.url, signaling.url.replace(/^http/, 'ws') + '/v1/ws'],
      close: () => {
        fleet?.close();
        return signaling.close();
      },
    },
  ];
  if (fleet)
    logger.info('relay fleet', {
      turnUrls: a['turn-url'] ?? [],
      registered: cluster !== undefined,
      ownRelay: relay !== undefined,
      region: a.region,
    });
  if (a.stun) {
    try {
      services.push(await startStun(a, logger, signaling));
    } catch (err) {
      // Nothing stays bound when the last service cannot start (the SQLite handle included).
      await signaling.close();
      await relay?.server.close();
      await fleetGate?.close();
      throw err;
    }
  }
  if (relay) services.push(relayService(relay, signaling, fleetGate));
  const close = async (): Promise<void> => {
    for (const s of [...services].reverse()) {
      try {
        await s.close();
      } catch (err) {
        logger.error('service close failed', { service: s.name, err: String(err) });
      }
    }
  };
  return { services, ...(keys.file ? { apiKeyFile: keys.file } : {}), close };
}

/**
 * Issue 12: every address serve notes for a peer (its signaling connection's, its allocations'
 * on serve's own relay) is written to Redis too, where the fleet relays' peer gates
 * (../cluster/relay-peer-gate.ts) read it: both gates then admit the same addresses. The pairs
 * reach Redis from the signaling server itself (server.ts, ../cluster/rendezvous-pairs.ts).
 */
function seenInCluster(rendezvous: Rendezvous, cluster: ClusterNode, logger: Logger): void {
  const seen = new RendezvousPairs({ redis: cluster.redis, keys: cluster.keys, logger });
  rendezvous.onSeen = (peer, ip) => seen.seen(peer, ip);
}

/**
 * STUN serves UDP and TCP on one port number. With port 0 the UDP port is picked first and the
 * same number may already be taken on TCP; then pick again (a few times) instead of failing.
 */
async function startStunServer(
  host: string,
  port: number,
  logger: Logger,
  alternate?: string,
  udpIo?: 'mmsg' | 'dgram',
): Promise<StunServer> {
  const listen = { address: host, port };
  // RFC 5780 (--stun-alternate): the same parser as `natpush stun --alternate`.
  const alt = alternate ? parseAlternate(alternate, listen, '--stun-alternate') : undefined;
  for (let attempt = 1; ; attempt++) {
    try {
      return await StunServer.start({
        listen,
        tcp: true,
        logger,
        udpIo,
        ...(alt ? { alternate: alt } : {}),
      });
    } catch (err) {
      const inUse = (err as NodeJS.ErrnoException).code === 'EADDRINUSE';
      if (port !== 0 || !inUse || attempt >= 5) throw err;
    }
  }
}

/** STUN (RFC 8489 Binding over UDP and TCP) on the same host, counted in `/metrics`. */
async function startStun(
  a: ServeOptions,
  logger: Logger,
  signaling: SignalingServer,
): Promise<Service> {
  const stun = await startStunServer(
    a.host,
    a['stun-port'],
    logger,
    a['stun-alternate'],
    a['stun-udp-io'],
  );
  stunMetrics(signaling.context.metrics.registry, () => Promise.resolve({ ...stun.stats }));
  const endpoints = stun.addresses().map((e) => `stun:${e.address}:${e.port} (udp)`);
  const tcp = stun.tcpAddress();
  if (tcp) endpoints.push(`stun:${tcp.address}:${tcp.port} (tcp)`);
  return { name: 'stun', endpoints, close: () => stun.close() };
}

/** The TURN relay (RFC 8656, UDP and TCP) with TURN REST credentials. */
async function startRelay(
  a: ServeOptions,
  secrets: ServeSecrets,
  dataDir: string,
  logger: Logger,
  deps: ServeDeps,
  peerGate: RelayPeerGate | undefined,
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
    udpIo: a['relay-udp-io'],
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
    throw optionError(
      `--relay-public-address ${publicAddress} does not resolve to an IPv${family} address: ${(err as Error).message}`,
    );
  }
}

/** The relay as a service of serve, counted in `/metrics`. */
function relayService(
  relay: ServeRelay,
  signaling: SignalingServer,
  gate: FleetPeerGate | undefined,
): Service {
  const server = relay.server;
  relayMetrics(signaling.context.metrics.registry, () =>
    Promise.resolve({ allocations: server.allocationCount, ...server.counters.snapshot() }),
  );
  const close = async (): Promise<void> => {
    await relay.server.close();
    await gate?.close(); // its Redis connection would keep the process alive
  };
  return { name: 'turn', endpoints: relay.endpoints, close };
}
