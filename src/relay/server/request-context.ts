/**
 * What a request handler is given (pion/turn's `Request`): the decoded message, the client's link
 * (its 5-tuple), the authenticated user, the time, and the server's parts it may use. Handlers
 * return a reply value (reply.ts) and never send themselves.
 */
import type { Endpoint } from '../../net/index.js';
import type { StunMessage } from '../../stun/index.js';
import type { Logger } from '../../util/logger.js';
import type { AuthContext } from '../auth.js';
import type { RelayCounters } from '../counters.js';
import type { ClientLink } from './client-link.js';
import type { DataPath } from './data-path.js';
import type { ResolvedTurnServerOptions } from './options.js';
import type { PeerAccess } from './peer-access.js';
import type { PortReservations } from './port-reservations.js';
import type { AllocationRegistry, LiveAllocation } from './registry.js';

/** The credentials a request proved (RFC 8489 §9.2.4); `key` signs the response. */
export interface Authenticated {
  readonly username: string;
  readonly user: string;
  readonly key: Uint8Array;
}

/** The server's parts handlers use; one per server. */
export interface RelayCore {
  readonly options: ResolvedTurnServerOptions;
  readonly log: Logger;
  readonly counters: RelayCounters;
  /** Realm, credential store and nonces for the long-term credential check. */
  readonly auth: AuthContext;
  readonly registry: AllocationRegistry;
  readonly peers: PeerAccess;
  readonly data: DataPath;
  readonly reservations: PortReservations;
  /** 'IPv4' or 'IPv6': the family of relayAddress, the only one relayed (RFC 8656 §7.2 step 3). */
  readonly relayFamily: 'IPv4' | 'IPv6';
  /** True once the server is closing: an Allocate in flight gives its socket back. */
  readonly closed: () => boolean;
  /** The next ALTERNATE-SERVER, round robin, or undefined when this server allocates itself. */
  readonly nextAlternate: () => Endpoint | undefined;
}

export interface RequestContext {
  readonly msg: StunMessage;
  readonly link: ClientLink;
  readonly auth: Authenticated;
  readonly now: number;
  readonly core: RelayCore;
}

/** A request on a 5-tuple that holds an allocation made with the same credentials (§5). */
export interface AllocationRequest extends RequestContext {
  readonly allocation: LiveAllocation;
}
