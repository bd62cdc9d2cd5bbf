/**
 * The options of a PeerLink (peer-link.ts), the rungs it reports and its timing limits: its
 * injected parts (the server rung, the punch layer, the clock) and the app's callbacks.
 */
import type { PunchedPath } from '../punch/path.js';
import type { Notification as ChannelNotification } from '../session/reliable.js';
import type { Identity } from '../signaling/identity.js';
import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';

export type LinkPath = 'server' | 'relay' | 'direct';

/** What a link needs of the punch layer (PunchConnector fits). */
export interface LinkConnector {
  connect(peer: string, o?: { signal?: AbortSignal }): Promise<PunchedPath>;
}

export interface PeerLinkOptions {
  identity: Identity;
  remote: string;
  clock: Clock;
  logger: Logger;
  /** The remote's verified Ed25519 key (KeyDirectory.get). */
  remoteKey: () => Promise<string>;
  /** Send one session datagram in a `p2p` frame through the server; false if not possible. */
  sendP2p: (datagram: Uint8Array) => boolean;
  /** The punch layer, or undefined when UDP is off (`direct: false`). */
  connector: () => Promise<LinkConnector | undefined>;
  onNotification: (n: ChannelNotification, path: LinkPath) => void;
  onPath: (e: { path: LinkPath; reason?: string }) => void;
  onPunch: (e: { ok: boolean; kind?: 'direct' | 'relay'; rttMs?: number; error?: string }) => void;
  /**
   * True while the application is not keeping up: incoming datagrams are dropped unread, so the
   * channel acks nothing (nothing is lost: the sender retransmits, then falls back to the server
   * rung, whose delivery window holds the rest). Default: never.
   */
  paused?: () => boolean;
  /** The connector carries handshakes in checks (PunchConnector.setHandshakes). Default false. */
  handshakeInChecks?: boolean;
  /** Re-punch backoff: first delay, doubled per failure up to the cap (ms). */
  repunchMs?: { initial: number; max: number };
}

/** Re-punch after a failure or a relay-only result: 5 s, doubling to 2 min. */
export const REPUNCH = { initial: 5_000, max: 120_000 };
/**
 * Longest the server handshake waits for a punch's checks to take the init: a logged-in punch
 * starts checking one signaling round trip after it begins (well under a second on any path
 * serve measures); after this the old flow runs. The punch ending releases it sooner.
 */
export const CHECK_HANDSHAKE_HOLD_MS = 2_000;
/** Check answers kept while the punch settles: one per pair checked with the init, at most. */
export const MAX_CHECK_ANSWERS = 4;
/** A path silent this long (see #quiet) is no longer fresh: well above a glare's few round trips. */
export const QUIET_MS = 1_000;
/**
 * AGREEMENT — the two sides of a link must use the same path, or each sends where the other no
 * longer listens and both wait for consent's 30 s (RFC 7675) to notice (CI saw a relayed
 * session sit 50 s on two different dead paths after its relay died). Two rules keep them
 * together:
 * - a punch that succeeded is adopted by both sides whatever they held (`adopt`): judging "is
 *   the new path better?" on each side apart gave different answers (a path quiet on one side
 *   only, one side still on a dead path it had not noticed yet);
 * - a side that sends on its path and hears nothing back on it for STALL_MS while data is in
 *   flight drops it (the remote is elsewhere, or the path died one way) and re-punches; the
 *   server rung carries meanwhile. Within seconds, not consent's 30 s. Pings are not data in
 *   flight: PING_MISSES of them timed out in a row with nothing heard count the same (issue
 *   9/11: consent checks were answered while no session datagram got through for ~90 s).
 */
/**
 * Data unacknowledged this long with nothing heard on the path: far above any round trip plus
 * the receiver's delayed ack, and a few backed-off RTOs (200 ms doubling: 0.2 + 0.4 + … ≥ 6 s),
 * so a loaded machine's scheduling hiccup does not drop a working path.
 */
export const STALL_MS = 6_000;
/**
 * Pings timed out in a row on a path with nothing heard on it since the first: the path is
 * dropped (path-hearing.ts). Two, not one: a lone lost ping on a lossy link is not a dead path.
 */
export const PING_MISSES = 2;
