/** The connector's options and what it hands out for punches the other side starts. */
import type { Endpoint, UdpSocket } from '../net/udp.js';
import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import type { Candidate } from './candidates.js';
import type { HardNatHooks } from './hard-nat-step.js';
import type { PunchedPath } from './path.js';
import type { PunchSignaling } from './punch-signals.js';

export interface PunchConnectorOptions {
  /** The peer's one UDP socket (the connector never closes it). */
  socket: UdpSocket;
  signaling: PunchSignaling;
  clock: Clock;
  logger?: Logger;
  /** Interface addresses for host candidates. */
  interfaces: () => readonly string[];
  /** serve's STUN server (srflx). */
  stunServer?: Endpoint;
  /** serve's TURN server (relayed candidate; credentials from `signaling.turnCredentials`). */
  turnServer?: Endpoint;
  /** Its TCP endpoint: the allocation goes there when UDP gets no answer (UDP-blocked). */
  turnTcpServer?: Endpoint;
  /** Answer punches from this peer? Default: yes (serve forwards only from allowed peers). */
  accept?: (peer: string) => boolean;
  /** More candidates on the socket (a port mapping: punch/portmap mappedCandidates). */
  extraCandidates?: (gathered: readonly Candidate[]) => readonly Candidate[];
  /**
   * This peer's id. With it, either side may start a punch and glare (both start at once) ends
   * in one session: the punch of the lower peer id goes on, the other side answers it and its
   * own `connect` follows that path. Without it both punches run (the old behaviour).
   */
  localPeerId?: string;
  /**
   * Register an offer with serve (`offer`: warm candidates and one-time ICE credentials), so
   * that serve answers a punch toward us at once, as it forwards the punch: the initiator gets
   * our candidates one signaling round trip earlier and both sides start checks when serve's
   * `punch-start` arrives. Each offer answers one punch; a new one is registered after each use
   * and whenever the candidates change. Default false.
   */
  registerOffers?: boolean;
  /**
   * The hard-NAT step (issue 11): this side's NAT facts, sent in every `candidates` and `offer`
   * frame, and the birthday hard side's many sockets. Without it no facts are sent and the
   * punch is the ordinary one.
   */
  hardNat?: HardNatHooks;
  /** Tuning (defaults in PUNCH_DEFAULTS). */
  taMs?: number;
  directGraceMs?: number;
  punchTimeoutMs?: number;
  gatherTimeoutMs?: number;
  signalTimeoutMs?: number;
  consentIntervalMs?: number;
  consentTimeoutMs?: number;
}

export interface IncomingPunch {
  peer: string;
  rid: string;
  path: Promise<PunchedPath>;
}
