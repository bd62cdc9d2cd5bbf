/**
 * A per-source rate limit (src/stun/rate-limiter.ts) split over N worker processes so that the
 * whole server, not each worker, holds every source to it (issue 10: quotas are whole-server).
 *
 * Each worker enforces 1/N of the rate and of the burst. Why that and not the IPC ledger the
 * allocation quotas use (ledger.ts): a Binding is answered synchronously in the datagram's
 * callback, so a ledger could only be consulted after the fact — batched reports overshoot by up
 * to N× for a report interval, per-packet IPC costs more than the Binding itself. The split is
 * exact as an upper bound, whatever the kernel does: a source's answers over all workers are at
 * most Σ (burst/N + rate/N · t) = burst + rate · t, what one process allows.
 *
 * It is stricter only for one client socket sending above rate/N: SO_REUSEPORT keeps one source
 * port on one worker (Node ≥ 22.12), so that socket meets a single share (with the default 200/s
 * and 2 workers, 100 Binding/s from one socket: RFC 8489 §6.2.1 retransmits 7 times in 39.5 s,
 * keepalives are seconds apart). Many sockets behind one address (a CGN) spread over the workers
 * and get the whole budget. With node:cluster's one shared socket (Node 20) any worker reads any
 * datagram, so even one socket's requests are spread.
 */
import type { RateLimitOptions } from '../../stun/rate-limiter.js';

export type RateShare = Partial<RateLimitOptions> & { perSecond: number; burst: number };

/** The share one of `workers` workers enforces; `false` (no limit) stays false. The burst share
 *  is at least 1 (a bucket must hold one request), so with burst < workers the bound is
 *  `workers` rather than `burst`. */
export function workerShare<T extends RateShare>(limit: T | false, workers: number): T | false {
  if (!Number.isInteger(workers) || workers < 1) {
    throw new RangeError('workers must be an integer >= 1');
  }
  if (limit === false || workers === 1) return limit;
  return {
    ...limit,
    perSecond: limit.perSecond / workers,
    burst: Math.max(1, limit.burst / workers),
  };
}
