/**
 * When a failed request means the allocation is gone (RFC 8656 §7.3, §3.1), as opposed to one
 * lost request on a lossy path. The TURN client then reports it once (`TurnClient.onLost`) and its
 * owner allocates again — on another relay of the fleet when serve names one (issue 12).
 */
import { TURN_ERR, TurnClientError } from '../errors.js';

/** How a failed request was sent: a scheduled Refresh, or a probe asked for because a path on
 *  the allocation stopped answering. */
export type RefreshKind = 'scheduled' | 'probe';

/**
 * Why the allocation is lost, or undefined when it may still be alive:
 * - 437 Allocation Mismatch to a Refresh: the server holds no allocation for our 5-tuple (it
 *   restarted, or the lifetime ran out) — RFC 8656 §7.3;
 * - no answer (timeout) past the allocation's expiry: the server deleted it by now even if it
 *   lives (§7: an allocation dies when its lifetime ends); a probe's timeout counts at once — it
 *   was asked for because data on the allocation already stopped flowing;
 * - the TCP connection to the server closed: a TCP allocation dies with it (§3.1).
 */
export function allocationLoss(
  err: unknown,
  kind: RefreshKind,
  now: number,
  expiresAt: number,
): string | undefined {
  if (!(err instanceof TurnClientError)) return undefined;
  if (err.status === 437) return 'the server no longer holds the allocation (437)';
  if (err.code === TURN_ERR.CLOSED) return 'the connection to the server closed';
  if (err.code === TURN_ERR.TIMEOUT) {
    if (kind === 'probe') return 'the server did not answer a Refresh';
    if (now >= expiresAt) return 'no Refresh answered within the allocation lifetime';
  }
  return undefined;
}
