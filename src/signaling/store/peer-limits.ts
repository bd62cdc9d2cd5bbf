/**
 * The bound on registrations (`peers` of every store). Registering costs an attacker one fresh
 * Ed25519 key pair and one login, so without a bound the table — and the copy of it that
 * known-peers.ts (local stores) or redis-store.ts (every node) keeps in memory — grows by one row
 * per key pair ever presented. Two limits, both `natpush serve` flags:
 *
 * - idle expiry (`--peer-ttl-days`): a registration not seen for `ttlMs` is deleted together with
 *   its mailbox (what is keyed by the peer). "Seen" is a login (throttled to one write per
 *   `touchIntervalMs`, never a write per frame) or a live session at the sweep: a peer connected
 *   without a break for longer than `ttlMs` is not idle.
 * - a hard cap (`--max-peers`): at the cap a *new* registration is refused with
 *   NATPUSH_ERR_PEER_LIMIT. Nothing is evicted to make room, so an attacker who fills the table
 *   cannot push legitimate peers out; a known peer (live or not) still logs in; the cap only
 *   delays newcomers until idle registrations expire.
 */
import { SignalingError, SignalingErrorCode } from '../errors.js';

const DAY_MS = 24 * 3600_000;

export interface PeerLimits {
  /** A registration not seen for this long is deleted with its mailbox (ms; 0 = never). */
  ttlMs: number;
  /** At this many registrations a new one is refused (PEER_LIMIT). */
  max: number;
}

export const PEER_LIMITS: PeerLimits = {
  /**
   * 90 days: a device used once a quarter keeps its id and mailbox, while a key pair registered
   * once and abandoned costs its row for a bounded time.
   */
  ttlMs: 90 * DAY_MS,
  /**
   * One million: a row is ~150 B on disk and ~100 B in memory (the known-peers set), so the cap
   * bounds both at ~150 MB, well above any deployment a single serve process or one Redis serves.
   */
  max: 1_000_000,
};

/** Registrations looked at by one expiry sweep at most (bounds the sweep's event-loop turn). */
export const PEER_EXPIRY_BATCH = 1_000;

/**
 * How stale `last_seen` may get before a login writes it again: a day, or an eighth of the ttl
 * when that is shorter. So a peer that logs in every minute costs one write a day, and expiry is
 * early by at most this much.
 */
export function touchIntervalMs(l: PeerLimits): number {
  return l.ttlMs > 0 ? Math.min(DAY_MS, Math.floor(l.ttlMs / 8)) : DAY_MS;
}

/** Resolve a store's `peers` option against the defaults; throws RangeError on nonsense. */
export function peerLimits(o: Partial<PeerLimits> | undefined): PeerLimits {
  const l = { ...PEER_LIMITS, ...o };
  if (!Number.isSafeInteger(l.ttlMs) || l.ttlMs < 0)
    throw new RangeError(`peer ttl must be a non-negative integer ms, got ${l.ttlMs}`);
  if (!Number.isSafeInteger(l.max) || l.max < 1)
    throw new RangeError(`max peers must be a positive integer, got ${l.max}`);
  return l;
}

export function peerLimitError(max: number): SignalingError {
  return new SignalingError(
    SignalingErrorCode.PEER_LIMIT,
    `this server holds its maximum of ${max} registered peers; new peers are refused until idle registrations expire`,
  );
}
