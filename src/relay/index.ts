/**
 * TURN (RFC 8656) for natpush: a relay server that standard clients can use (server/), and the client the
 * path ladder uses for rung 2.
 *
 * ```ts
 * const relay = await createRelayServer({
 *   net: nodeUdpNetwork, port: 3478, tcpPort: 3478, relayAddress: '203.0.113.1',
 *   credentials: sharedSecret(secret),               // TURN REST, as coturn use-auth-secret
 * });
 * const creds = mintTurnCredentials(secret, peerId, 3600); // what `serve` hands a peer
 * const turn = await TurnClient.allocate({ server, ...creds, socket: peerSocket });
 * await turn.bindChannel(otherPeer); turn.send(otherPeer, bytes); turn.onData((d, from) => ...);
 * ```
 */
export { TurnServer, createRelayServer } from './server/turn-server.js';
export type { TurnServerAddresses } from './server/turn-server.js';
export type { TurnServerOptions } from './server/options.js';
export { TurnClient } from './client/client.js';
export type { TurnClientOptions, TurnClientStats, DataListener } from './client/client.js';
export { mintTurnCredentials, restPassword, sharedSecret, staticUsers } from './credentials.js';
export type { CredentialStore, TurnCredentials } from './credentials.js';
export { PeerPolicy } from './peer-policy.js';
export type { PeerPolicyOptions, PeerVerdict } from './peer-policy.js';
export { RelayCounters, DROP_REASONS } from './counters.js';
export type { DropReason } from './counters.js';
export { TURN_ERR, TurnClientError, TurnErrorCode, isTurnClientError } from './errors.js';
export { encodeChannelData, decodeChannelData, isChannelData } from './channel-data.js';
export { StreamDeframer, StreamFramingError } from './stream-framer.js';
// What the server composition (src/server, relay-ops) needs besides the server itself.
export type { RelayPeerGate } from './peer-gate.js';
export type { AllocationLedgerClient } from './server/options.js';
export {
  DEFAULT_CREDENTIAL_TTL_S,
  DEFAULT_MAX_ALLOCATIONS,
  DEFAULT_MAX_ALLOCATIONS_PER_IP,
  DEFAULT_MAX_ALLOCATIONS_PER_USER,
  DEFAULT_REALM,
  DEFAULT_TURN_PORT,
  SERVE_RELAY_LIMITS,
} from './constants.js';
export { RELAY_CONFIG_ERR } from './errors.js';
export type { ReservationExchange } from './server/options.js';
