/**
 * The TURN relay as a part of `natpush serve`: UDP and TCP on the same port, TURN REST
 * credentials from a secret given or generated once into the data directory (mode 0600) — the
 * same secret lets `serve` mint credentials for its peers and lets separate
 * `natpush relay --secret-file` processes accept them.
 */
import type { UdpIo } from '../net/mmsg-network.js';
import type { RelayPeerGate, TurnServer } from '../relay/index.js';
import { createRelayServer, SERVE_RELAY_LIMITS, sharedSecret } from '../relay/index.js';
import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import { defaultRelayAddress } from './relay-options.js';
import { generatedSecret } from './secrets.js';

/** serve's TURN secret: given, or kept in (generated into) `dataDir/turn-secret`. */
export function turnSecret(dataDir: string, given?: string): { secret: string; file?: string } {
  if (given) return { secret: given };
  const { value, file } = generatedSecret(dataDir, 'turn-secret', 32);
  return { secret: value, file };
}

export interface ServeRelayOptions {
  dataDir: string;
  host: string;
  port: number;
  secret?: string;
  relayAddress?: string;
  /** Advertised in XOR-RELAYED-ADDRESS behind a 1:1 NAT (serve's --relay-public-address). */
  externalAddress?: string;
  /** Who peers may relay to (serve's rendezvous table); undefined = a plain TURN server. */
  peerGate?: RelayPeerGate;
  /** The relay's UDP input/output (TurnServerOptions.udpIo); default mmsg. */
  udpIo?: UdpIo;
  logger: Logger;
  clock?: Clock;
}

export interface ServeRelay {
  server: TurnServer;
  secret: string;
  endpoints: string[];
  secretFile?: string;
}

export async function startServeRelay(o: ServeRelayOptions): Promise<ServeRelay> {
  const { secret, file } = turnSecret(o.dataDir, o.secret);
  const server = await createRelayServer({
    udpIo: o.udpIo ?? 'mmsg',
    logger: o.logger,
    ...(o.clock ? { clock: o.clock } : {}),
    listenAddress: o.host,
    port: o.port,
    tcpPort: o.port,
    relayAddress: o.relayAddress ?? defaultRelayAddress(o.host),
    ...(o.externalAddress ? { externalAddress: o.externalAddress } : {}),
    credentials: sharedSecret(secret),
    ...(o.peerGate ? { peerGate: o.peerGate } : {}),
    ...SERVE_RELAY_LIMITS,
  });
  const a = server.addresses();
  const endpoints = [`turn:${a.udp.address}:${a.udp.port}?transport=udp`];
  if (a.tcp) endpoints.push(`turn:${a.tcp.address}:${a.tcp.port}?transport=tcp`);
  return { server, secret, endpoints, ...(file ? { secretFile: file } : {}) };
}
