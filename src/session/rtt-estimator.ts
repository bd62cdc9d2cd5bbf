/**
 * Retransmission timeout from measured round trips, RFC 6298 §2:
 *   first sample R:  SRTT = R, RTTVAR = R/2
 *   then:            RTTVAR = 3/4·RTTVAR + 1/4·|SRTT − R|,  SRTT = 7/8·SRTT + 1/8·R
 *   RTO = SRTT + max(G, 4·RTTVAR), clamped to [minRtoMs, maxRtoMs]; doubled on each timeout (§5.5).
 * Samples only from packets sent once (Karn's algorithm, §3) — the caller's job.
 */
export interface RttOptions {
  /** RFC 6298 §2.1: 1 s before any sample. */
  initialRtoMs?: number;
  /**
   * RFC 6298 §2.4 asks for 1 s, a TCP-era floor; Linux TCP uses 200 ms (TCP_RTO_MIN) and QUIC
   * (RFC 9002 §6.2) none. 200 ms keeps a spurious retransmission cheap on a notification stream.
   */
  minRtoMs?: number;
  /** RFC 6298 §2.5 allows a cap ≥ 60 s; 10 s so a path that returns is used within that. */
  maxRtoMs?: number;
  /** Clock granularity G (ms). */
  granularityMs?: number;
}

export class RttEstimator {
  readonly #o: Required<RttOptions>;
  #srtt: number | undefined;
  #rttvar = 0;
  #backoff = 1;
  #latest: number | undefined;

  constructor(o: RttOptions = {}) {
    this.#o = {
      initialRtoMs: o.initialRtoMs ?? 1_000,
      minRtoMs: o.minRtoMs ?? 200,
      maxRtoMs: o.maxRtoMs ?? 10_000,
      granularityMs: o.granularityMs ?? 1,
    };
  }

  /** Smoothed RTT (ms), undefined before the first sample. */
  get srtt(): number | undefined {
    return this.#srtt;
  }

  get latest(): number | undefined {
    return this.#latest;
  }

  get rto(): number {
    const base =
      this.#srtt === undefined
        ? this.#o.initialRtoMs
        : this.#srtt + Math.max(this.#o.granularityMs, 4 * this.#rttvar);
    return Math.min(this.#o.maxRtoMs, Math.max(this.#o.minRtoMs, base) * this.#backoff);
  }

  sample(rttMs: number): void {
    const r = Math.max(0, rttMs);
    this.#latest = r;
    if (this.#srtt === undefined) {
      this.#srtt = r;
      this.#rttvar = r / 2;
    } else {
      this.#rttvar = 0.75 * this.#rttvar + 0.25 * Math.abs(this.#srtt - r);
      this.#srtt = 0.875 * this.#srtt + 0.125 * r;
    }
    // §5.7: a new sample after backoff collapses the backoff.
    this.#backoff = 1;
  }

  /** §5.5: double the RTO after a timeout (capped by maxRtoMs). */
  backoff(): void {
    if (this.rto < this.#o.maxRtoMs) this.#backoff *= 2;
  }

  /**
   * Forget everything (a new path has a different RTT; RFC 9000 §9.4 resets on migration). With
   * `seedMs`, a round trip already measured on the new path (its connectivity check), that is
   * the first sample (RFC 9002 §6.2.2 seeds from the handshake likewise): a loss right after the
   * change is then resent after ~3 round trips (at least minRtoMs), not after initialRtoMs.
   */
  reset(seedMs?: number): void {
    this.#srtt = undefined;
    this.#rttvar = 0;
    this.#backoff = 1;
    if (seedMs !== undefined && Number.isFinite(seedMs) && seedMs >= 0) this.sample(seedMs);
  }
}
