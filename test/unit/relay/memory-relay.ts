/**
 * A TURN relay for client-side unit tests (client, client-lost, gatherer-relay-move,
 * cluster/relay-death): the real server listening on `at` and relaying from the same address,
 * on a host of the in-memory network, with TURN REST credentials from `secret`.
 */
import type { Endpoint, UdpNetwork } from '../../../src/net/index.js';
import { sharedSecret } from '../../../src/relay/credentials.js';
import { createRelayServer, type TurnServer } from '../../../src/relay/server/turn-server.js';
import type { ManualClock } from '../../../src/util/clock.js';

export function relayOn(
  host: UdpNetwork,
  clock: ManualClock,
  at: Endpoint,
  secret: string,
): Promise<TurnServer> {
  return createRelayServer({
    net: host,
    clock,
    listenAddress: at.address,
    port: at.port,
    relayAddress: at.address,
    credentials: sharedSecret(secret),
  });
}
