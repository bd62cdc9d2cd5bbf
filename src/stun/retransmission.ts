/**
 * The RFC 8489 §6.2.1 retransmission schedule of STUN requests over unreliable transports (UDP),
 * as the transaction engine (transaction.ts) runs it.
 *
 *   request 1    t = 0
 *   request 2    t = RTO                     RTO doubles after every request
 *   request 3    t = RTO + 2·RTO = 3·RTO
 *   request k    t = (2^(k-1) − 1)·RTO       … until Rc requests were sent
 *   timeout      t = (2^(Rc-1) − 1)·RTO + Rm·RTO
 *
 * With the RFC's defaults RTO = 500 ms, Rc = 7, Rm = 16 (RFC8489_RETRANSMISSION) requests leave
 * at 0, 500, 1500, 3500, 7500, 15500 and 31500 ms and the transaction fails at 39.5 s — the
 * worked example in RFC 8489 §6.2.1. "RTO" in "Rm times the RTO" is the initial RTO, which is what
 * gives 31.5 s + 16 × 0.5 s = 39.5 s. RFC 8489 §6.2.1 allows a smaller RTO on links known to be
 * fast ("fixed-line access links"); LAN_RETRANSMISSION (100 ms, Rc 4, Rm 4 → 0, 100, 300, 700,
 * fail at 1.1 s) is that option. Every transaction may override the engine's schedule.
 */

/** RFC 8489 §6.2.1 parameters. */
export interface RetransmissionOptions {
  /** Initial retransmission timeout; default 500 ms (RFC 8489 §6.2.1). */
  rtoMs: number;
  /** Rc: total requests sent; default 7. */
  maxRequests: number;
  /** Rm: wait this many initial RTOs after the last request; default 16. */
  lastWaitMultiplier: number;
}

/** Total time a datagram transaction waits before it fails: (2^(Rc-1) − 1)·RTO + Rm·RTO. */
export function scheduleLengthMs(s: RetransmissionOptions): number {
  return (2 ** (s.maxRequests - 1) - 1) * s.rtoMs + s.lastWaitMultiplier * s.rtoMs;
}

/** The send times of a datagram transaction, ms after the first (for docs, tests and logs). */
export function retransmissionTimesMs(s: RetransmissionOptions): number[] {
  return Array.from({ length: s.maxRequests }, (_, k) => (2 ** k - 1) * s.rtoMs);
}

export function checkRetransmission(r: RetransmissionOptions): RetransmissionOptions {
  if (
    !(r.rtoMs > 0) ||
    !Number.isInteger(r.maxRequests) ||
    r.maxRequests < 1 ||
    // 2^31 RTOs is already decades; larger counts only overflow timers.
    r.maxRequests > 31 ||
    !(r.lastWaitMultiplier > 0)
  ) {
    throw new RangeError(`bad retransmission options ${JSON.stringify(r)}`);
  }
  return r;
}
