/**
 * Direct paths between peers (rung 1 of the delivery ladder, DESIGN.md): one UDP socket
 * demultiplexed per RFC 7983, ICE-style candidates and connectivity checks (RFC 8445) with
 * per-session credentials, coordinated starts through `natpush serve`, consent freshness
 * (RFC 7675).
 *
 * ```ts
 * const connector = new PunchConnector({ socket, signaling: peer, clock, interfaces,
 *                                        stunServer, turnServer });
 * const path = await connector.connect(otherPeerId);        // PunchedPath {kind:'direct'|'relay'}
 * path.onData((bytes) => session.handle(bytes));
 * path.send(datagram);                                     // 0xC0–0xCF session datagrams
 * path.onDead(() => ladder.down());
 * connector.onIncoming(({ peer, path }) => …);             // the other side's punches
 * ```
 */
export { classifyPacket, SocketDemux } from './demux.js';
export type { DemuxListener, DemuxStats, PacketClass, Via } from './demux.js';
export { CandidateGatherer, candidatePriority, baseOf } from './candidates.js';
export type {
  Candidate,
  CandidateBase,
  CandidateType,
  GathererOptions,
  RelayCredentials,
} from './candidates.js';
export {
  buildCheck,
  buildCheckSuccess,
  checkTarget,
  newIceCredentials,
  newTieBreaker,
  verifyCheck,
  verifyCheckResponse,
} from './check-message.js';
export type { IceCredentials, Role, VerifiedCheck } from './check-message.js';
export { CheckAgent, pairPriority } from './checks.js';
export type {
  CandidatePair,
  CheckAgentOptions,
  CheckStats,
  PairState,
  PathKind,
} from './checks.js';
export { PunchConnector } from './connector.js';
export type {
  IncomingPunch,
  PunchConnectorOptions,
  PunchSignaling,
  PunchSignalIn,
  PunchSignalOut,
  WireCandidate,
} from './connector.js';
export type { PunchedPath } from './path.js';
export { PUNCH_DEFAULTS, PUNCH_LIMITS, TYPE_PREFERENCE } from './constants.js';
export { PUNCH_ERR, PunchError } from './errors.js';
export type { PunchErrorCode } from './errors.js';
export { punchWithRetry } from './retry.js';
export type { PunchRetryOptions } from './retry.js';
export { systemInterfaces } from './interfaces.js';
