/**
 * The sender's congestion window of a ReliableChannel, in packets: NewReno-style AIMD after
 * RFC 9002 §7 (QUIC) and RFC 5681 (TCP), counted in packets rather than bytes (a packet is at most
 * one MTU-sized fragment, and a notification stream is mostly small ones).
 *
 * - Slow start: from `initial`, +1 per newly acknowledged packet (the window doubles per round
 *   trip) until the slow-start threshold.
 * - Congestion avoidance: +1 per window's worth of acknowledged packets (+1 per round trip).
 * - Loss (a fast retransmission, RFC 9002 §6.1.1): the window halves (RFC 9002 §7.3.2's
 *   kLossReductionFactor 0.5) and the threshold with it — once per recovery period: losses of
 *   packets sent before the reduction do not reduce again, and their acks do not grow the window
 *   (RFC 9002 §7.3.2: recovery ends when a packet sent after it started is acknowledged).
 *   Periods are told apart by packet number, not time: ManualClock tests send many packets in
 *   one millisecond.
 * - Retransmission timeout (RFC 9002 §7.6's persistent congestion; RFC 5681 §3.1 after an RTO):
 *   back to `min`, threshold at half the window it had.
 * Always within [min, max]; `max` is the channel's `maxInFlightPackets`, and the receiver's
 * advertised window bounds what is in flight on top of it (flow control, in reliable.ts).
 */
export interface CongestionOptions {
  /** Packets in flight at the start (RFC 9002 §7.2 starts at 10 × MTU; ours are often small). */
  initial: number;
  /** Floor after a timeout (RFC 9002 §7.2's kMinimumWindow is 2 packets). */
  min: number;
  /** Ceiling: the channel's maxInFlightPackets. */
  max: number;
}

export class CongestionWindow {
  readonly #o: CongestionOptions;
  #cwnd: number;
  #ssthresh = Infinity;
  /** Fractional growth in congestion avoidance (acked packets / window). */
  #avoidCredit = 0;
  /** Packets numbered below this were sent before the current recovery period began. */
  #recoveryPn = -1;
  /** Counters for tests and the bench. */
  readonly stats = { reductions: 0, timeouts: 0, peak: 0 };

  constructor(o: CongestionOptions) {
    if (!(o.min >= 1 && o.initial >= o.min && o.max >= o.initial))
      throw new RangeError('congestion window needs 1 <= min <= initial <= max');
    this.#o = o;
    this.#cwnd = o.initial;
    this.stats.peak = o.initial;
  }

  /** Packets the sender may have unacknowledged now. */
  get packets(): number {
    return Math.floor(this.#cwnd);
  }

  get inSlowStart(): boolean {
    return this.#cwnd < this.#ssthresh;
  }

  /** Packet `pn` was newly acknowledged. */
  onAcked(pn: number): void {
    if (pn < this.#recoveryPn) return; // sent before the reduction: no growth for it
    if (this.#cwnd < this.#ssthresh) this.#cwnd += 1;
    else {
      this.#avoidCredit += 1;
      if (this.#avoidCredit >= this.#cwnd) {
        this.#avoidCredit -= this.#cwnd;
        this.#cwnd += 1;
      }
    }
    if (this.#cwnd > this.#o.max) this.#cwnd = this.#o.max;
    if (this.#cwnd > this.stats.peak) this.stats.peak = this.#cwnd;
  }

  /** Packet `pn` was declared lost; `nextPn` is the next packet number the sender will use. */
  onLoss(pn: number, nextPn: number): void {
    if (pn < this.#recoveryPn) return; // the same congestion event
    this.#recoveryPn = nextPn;
    this.#cwnd = Math.max(this.#o.min, Math.floor(this.#cwnd / 2));
    this.#ssthresh = this.#cwnd;
    this.#avoidCredit = 0;
    this.stats.reductions++;
  }

  /** The retransmission timer fired: the path may be gone or badly congested. */
  onTimeout(nextPn: number): void {
    this.#ssthresh = Math.max(this.#o.min, Math.floor(this.#cwnd / 2));
    this.#cwnd = this.#o.min;
    this.#recoveryPn = nextPn;
    this.#avoidCredit = 0;
    this.stats.timeouts++;
  }

  /** A new path (RFC 9002 §9.4 via RFC 9000 §9.4: reset congestion state on migration). */
  reset(): void {
    this.#cwnd = this.#o.initial;
    this.#ssthresh = Infinity;
    this.#avoidCredit = 0;
  }
}
