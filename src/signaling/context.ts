/**
 * What every part of one signaling server shares: options, injected clock/logger, the stores and
 * the routing tables. Built once by server.ts.
 */
import type { ClusterNode } from '../cluster/cluster-node.js';
import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import type { Admission } from './admission.js';
import type { ChallengeBook } from './challenges.js';
import type { LIMITS, TIMING } from './constants.js';
import type { Delivery } from './delivery.js';
import type { Mailbox } from './mailbox.js';
import type { SignalingMetrics } from './metrics.js';
import type { Presence } from './presence.js';
import type { Rendezvous } from './rendezvous.js';
import type { SessionTokens } from './session-tokens.js';
import type { TurnCredentialIssuer } from './turn-credentials.js';

export type Limits = { -readonly [K in keyof typeof LIMITS]: number };
export type Timing = { -readonly [K in keyof typeof TIMING]: number };

export interface ServerContext {
  serverId: string;
  clock: Clock;
  logger: Logger;
  limits: Limits;
  timing: Timing;
  metrics: SignalingMetrics;
  admission: Admission;
  challenges: ChallengeBook;
  sessionTokens: SessionTokens;
  mailbox: Mailbox;
  delivery: Delivery;
  presence: Presence;
  /** Mints TURN credentials for the relay composed beside this server; undefined = no relay. */
  turn: TurnCredentialIssuer | undefined;
  /** The peer gate of the relay composed beside this server (serve); undefined = none. */
  rendezvous: Rendezvous | undefined;
  /** This node's membership of a Redis cluster; undefined = a single node. */
  cluster: ClusterNode | undefined;
  /** True once shutdown began: new work is refused with SHUTTING_DOWN. */
  closing: boolean;
}
