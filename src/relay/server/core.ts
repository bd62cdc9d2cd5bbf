/**
 * The parts of one TURN server that its handlers share (request-context.ts `RelayCore`), built
 * from resolved options: the registry, who may be a peer, the data path and its bandwidth caps,
 * port reservations, credentials. The listener (turn-server.ts) and the handler tests build it
 * the same way.
 */
import net from 'node:net';
import type { Endpoint } from '../../net/index.js';
import type { RelayCounters } from '../counters.js';
import { NonceMinter } from '../nonce.js';
import { PeerPolicy } from '../peer-policy.js';
import { DataPath } from './data-path.js';
import type { ResolvedTurnServerOptions } from './options.js';
import { PeerAccess } from './peer-access.js';
import { PortReservations } from './port-reservations.js';
import { TokenBucket } from './quota.js';
import { AllocationRegistry } from './registry.js';
import type { RelayCore } from './request-context.js';

export function createRelayCore(
  o: ResolvedTurnServerOptions,
  counters: RelayCounters,
  closed: () => boolean,
): RelayCore {
  const own = [o.relayAddress, o.externalAddress];
  if (o.listenAddress !== '0.0.0.0' && o.listenAddress !== '::') own.push(o.listenAddress);
  const policy = new PeerPolicy({
    ...o.peerPolicy,
    ownAddresses: [...(o.peerPolicy.ownAddresses ?? []), ...own],
  });
  const registry = new AllocationRegistry(o, counters);
  const alternates = o.alternateServers;
  const reservations = new PortReservations(o.clock, o.maxAllocations, o.reservationExchange?.tag);
  o.reservationExchange?.serve((token) => reservations.release(token));
  let next = 0;
  return {
    options: o,
    log: o.logger,
    counters,
    auth: {
      realm: o.realm,
      credentials: o.credentials,
      nonces: new NonceMinter(o.nonceTtlSeconds),
    },
    registry,
    peers: new PeerAccess({
      policy,
      ownAddresses: new Set(own),
      registry,
      gate: o.peerGate,
      counters,
    }),
    data: new DataPath(
      counters,
      o.clock,
      new TokenBucket(o.totalBytesPerSecond, o.clock.now()),
      registry,
    ),
    reservations,
    relayFamily: net.isIPv6(o.relayAddress) ? 'IPv6' : 'IPv4',
    closed,
    // RFC 8489 §10: round robin over the workers this server directs to.
    nextAlternate: (): Endpoint | undefined =>
      alternates.length > 0 ? alternates[next++ % alternates.length] : undefined,
  };
}
