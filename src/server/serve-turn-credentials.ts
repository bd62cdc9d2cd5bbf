/**
 * Which TURN relays serve's peers get credentials for (`turn-credentials`): serve's own relay
 * (turnOptions), or with --redis / --turn-url a fleet of relays sharing the secret (issue 12,
 * src/cluster/relay-fleet.ts), serve's own one among them.
 */
import type { ClusterNode } from '../cluster/cluster-node.js';
import { RelayFleet, type LocalRelay } from '../cluster/relay-fleet.js';
import { turnUriHost, type TurnCredentialsOptions } from '../signaling/turn-credentials.js';
import { systemClock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import { optionError } from './errors.js';
import type { ServeOptions } from './serve-options.js';
import type { ServeRelay } from './serve-relay.js';
import type { ServeSecrets } from './serve-secrets.js';

/**
 * Issue 12: with --redis or --turn-url, serve hands out relays of a fleet sharing the secret
 * (src/cluster/relay-fleet.ts): registered `natpush relay --redis` processes, the --turn-url
 * servers (coturn) and serve's own relay. Without them: its own relay only, as before.
 */
export function relayFleet(
  a: ServeOptions,
  secrets: ServeSecrets,
  relay: ServeRelay | undefined,
  cluster: ClusterNode | undefined,
  logger: Logger,
): RelayFleet | undefined {
  const turnUrls = a['turn-url'] ?? [];
  if (!cluster && turnUrls.length === 0) return undefined;
  // coturn's static-auth-secret must be the one serve mints with: never a generated one.
  if (turnUrls.length > 0 && !secrets.turnSecret)
    throw optionError(
      "--turn-url needs the fleet's shared secret: --turn-secret-file or $NATPUSH_TURN_SECRET",
    );
  // --redis, --no-relay and no secret: no relay can be credentialed (as without --redis).
  if (!relay && !secrets.turnSecret) return undefined;
  return new RelayFleet({
    ...(cluster ? { redis: { redis: cluster.redis, keys: cluster.keys } } : {}),
    turnUrls,
    ...(relay ? { local: localRelay(a, relay) } : {}),
    region: a.region,
    credentialTtlMs: a['turn-credential-ttl'] * 1000,
    clock: systemClock,
    logger,
  });
}

/** serve's own relay as a fleet member: URLs as turnOptions() builds them, per peer. */
function localRelay(a: ServeOptions, relay: ServeRelay): LocalRelay {
  const { udp, tcp } = relay.server.addresses();
  const publicHost = a['relay-public-address'];
  return {
    urls: (connectedTo) => {
      const host = turnUriHost(publicHost ?? connectedTo);
      const urls = [`turn:${host}:${udp.port}?transport=udp`];
      if (tcp) urls.push(`turn:${host}:${tcp.port}?transport=tcp`);
      return urls;
    },
    allocations: () => relay.server.allocationCount,
  };
}

/**
 * What serve's signaling server mints TURN credentials for (`turn-credentials`): the fleet's
 * relays when there is a fleet, else its own relay, else none.
 */
export function serveTurnOptions(
  a: ServeOptions,
  secrets: ServeSecrets,
  relay: ServeRelay | undefined,
  fleet: RelayFleet | undefined,
): TurnCredentialsOptions | undefined {
  if (fleet) return fleetTurnOptions(a, fleet, (relay?.secret ?? secrets.turnSecret)!);
  return relay ? turnOptions(a, relay) : undefined;
}

function fleetTurnOptions(
  a: ServeOptions,
  fleet: RelayFleet,
  secret: string,
): TurnCredentialsOptions {
  return { secret, relays: fleet, ttlSeconds: a['turn-credential-ttl'] };
}

/** The credentials serve hands to peers name the relay's own ports and its shared secret. */
function turnOptions(a: ServeOptions, relay: ServeRelay): TurnCredentialsOptions {
  const { udp, tcp } = relay.server.addresses();
  return {
    secret: relay.secret,
    udpPort: udp.port,
    ...(tcp ? { tcpPort: tcp.port } : {}),
    ...(a['relay-public-address'] ? { publicHost: a['relay-public-address'] } : {}),
    ttlSeconds: a['turn-credential-ttl'],
  };
}
