/**
 * natpush's public library API. See README.md.
 */
export { NatpushError, isNatpushError } from './util/errors.js';
export type { Clock } from './util/clock.js';
export type { Logger } from './util/logger.js';
export { Peer } from './peer/peer.js';
export type {
  PeerOptions,
  NotifyOptions,
  NotifyResult,
  ReceivedNotification,
  DeliveryPath,
  PeerEvents,
  TurnCredentialsRequestOptions,
  TurnCredentialsResult,
  DropReason,
} from './peer/peer.js';
export type { AllowPolicy } from './peer/contacts.js';
export type { RetryInfo } from './signaling/client.js';
export { loadOrCreateIdentity, defaultIdentityPath } from './peer/identity-file.js';
export { generateIdentity, peerIdFromPublicKey, type Identity } from './signaling/identity.js';
export {
  startSignalingServer,
  type SignalingServer,
  type SignalingServerOptions,
} from './signaling/server.js';
export type { TurnCredentialsOptions } from './signaling/turn-credentials.js';
export { SqliteStore } from './signaling/store/sqlite-store.js';
export { MemoryStore } from './signaling/store/memory-store.js';
export type { MailboxStore } from './signaling/store/store.js';
// Scale-out with Redis (issue 12): several signaling servers sharing one Redis.
export type { AnyMailboxStore, SharedMailboxStore } from './signaling/store/store.js';
export { RedisStore } from './signaling/store/redis-store.js';
export { openCluster, type ClusterServerOptions } from './cluster/open-cluster.js';
export {
  startClusterNode,
  type ClusterNode,
  type ClusterNodeOptions,
} from './cluster/cluster-node.js';
export { mintPeerToken } from './signaling/admission.js';
export { SignalingError, SignalingErrorCode } from './signaling/errors.js';
export * as stun from './stun/index.js';
export * as net from './net/index.js';
export * as relay from './relay/index.js';
export {
  TurnClient,
  TurnServer,
  createRelayServer,
  mintTurnCredentials,
  sharedSecret,
  staticUsers,
  TurnClientError,
  TURN_ERR,
} from './relay/index.js';
export type { TurnClientOptions, TurnServerOptions, TurnCredentials } from './relay/index.js';
// Hard NATs (issue 11): router port mapping, port prediction, birthday probing.
export * as portmap from './punch/portmap/index.js';
export { PortMapper, PortmapError, PORTMAP_ERR, mappedCandidates } from './punch/portmap/index.js';
export type { PortMapperOptions, PortMapping } from './punch/portmap/index.js';
export {
  classifyAllocation,
  predictOwnPorts,
  type AllocationPattern,
} from './punch/port-prediction.js';
export { measureAllocation } from './punch/allocation-probe.js';
export {
  planBirthday,
  birthdaySuccessProbability,
  probesForProbability,
  runHardSide,
  runEasySide,
  type BirthdayPlan,
} from './punch/birthday.js';
export {
  chooseHardNatTechnique,
  type HardNatTechnique,
  type NatFacts,
} from './punch/hard-nat-plan.js';
// The servers as `natpush serve|relay|stun` compose them (options schema, workers, metrics).
export * as server from './server/index.js';
export { createRelay, createServe, createStun, SERVER_ERR } from './server/index.js';
export type { Relay, Serve, Stun, RelayArgs, ServeArgs, StunArgs } from './server/index.js';
