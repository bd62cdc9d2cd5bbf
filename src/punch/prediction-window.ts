/**
 * How many ports a sequential NAT's side predicts (predicted-candidates.ts), from how fast
 * OTHER hosts behind the same NAT move its counter. Pure.
 *
 * The prediction is last + delta·k, k = 1..window, where `last` is the newest mapping we saw.
 * Every mapping another host makes between that observation and our checks shifts our first
 * real mapping one step further; once the shift reaches the window, no predicted port is ours
 * and the punch ends on the relay. A fixed window of 4 covers our own first destinations on a
 * quiet NAT (a home router with one active host) but a busy shared NAT outruns it.
 *
 * Rate: the measurement's fresh sockets each make exactly one mapping, back to back; a gap of
 * g·delta between two consecutive samples means g − 1 mappings by someone else in between.
 * Foreign mappings per second = (sum of the extra steps) / (time from the first sample's answer
 * to the last one's). Short (a few round trips), so a coarse estimate; it is refreshed by every
 * measurement, and the window is bounded either way.
 *
 * Window: foreign mappings in a horizon of t seconds are taken as Poisson with mean λ = r·t
 * (independent hosts opening flows; RFC 4787 gives no model, this is the usual one for arrivals).
 * The shift exceeds λ + 3√λ with probability about 0.15 % for λ ≳ 10 (normal approximation of
 * the Poisson tail; a little more for small λ: 0.4 % at λ = 1), so
 *     window = BASE + ⌈λ + 3√λ⌉,  bounded to [BASE, MAX].
 * The horizon is the prediction's age when it is offered plus PUNCH_LEAD_MS, the time the offer
 * takes to become checks (through serve to the peer and back as punch-start: about two round
 * trips to serve, plus the scheduled start).
 *
 * Bound (MAX_ADAPTIVE_WINDOW = 20): the candidates travel in one rendezvous frame of at most
 * 32 (signaling LIMITS.maxCandidates), beside up to 8 host candidates (PUNCH_LIMITS
 * .maxHostCandidates), the srflx, the relay and a router-mapped one: 32 − 11 = 21 left, one
 * spare. Every predicted port is also a check the peer sends (paced at Ta, RFC 8445 §14.2:
 * 20 × 50 ms = 1 s of its checklist) and a mapping on the peer's NAT when it is sequential too;
 * and they rank above host candidates (predicted-candidates.ts), so a LAN pair behind such a NAT
 * waits that long for its host pair. A NAT busier than that (λ + 3√λ > 16 within a second or
 * so) is no place for prediction: birthday probing, a port mapping or the relay.
 */

/** A quiet NAT: our own first destinations (predicted-candidates.ts header). */
export const BASE_PREDICTION_WINDOW = 4;
/** See the header: one rendezvous frame's candidates, and a check per predicted port. */
export const MAX_ADAPTIVE_WINDOW = 20;
/** Offer → checks: two round trips to serve and the scheduled punch start, on a slow link. */
export const PUNCH_LEAD_MS = 1_000;
/**
 * Rates are not extrapolated over more than this: an old prediction on a busy NAT is stale
 * whatever the window (the next punch refreshes it, prediction-layer.ts), and MAX caps it anyway.
 */
export const MAX_HORIZON_MS = 60_000;

export interface TimedSample {
  mappedPort: number;
  /** Clock time the answer arrived (ms). */
  atMs: number;
}

/**
 * Foreign mappings per second seen between our own consecutive samples (sequential delta), or
 * undefined when the samples span no time or lack timestamps.
 */
export function foreignAllocationRate(
  samples: readonly TimedSample[],
  delta: number,
): number | undefined {
  if (!Number.isInteger(delta) || delta === 0)
    throw new RangeError('delta must be a non-zero integer');
  if (samples.length < 2) return undefined;
  let extra = 0;
  for (let i = 1; i < samples.length; i++) {
    const steps = (samples[i]!.mappedPort - samples[i - 1]!.mappedPort) / delta;
    // A step against the counter's direction or off its grid is not a foreign mapping (a
    // wrap-around, or the one stray sample the classifier tolerates): count nothing for it.
    if (Number.isInteger(steps) && steps > 1) extra += steps - 1;
  }
  const spanMs = samples[samples.length - 1]!.atMs - samples[0]!.atMs;
  if (!(spanMs > 0)) return undefined;
  return (extra * 1000) / spanMs;
}

/** The window for a prediction `ageMs` old, at `ratePerSec` foreign mappings per second. */
export function predictionWindow(o: { ratePerSec?: number; ageMs: number }): number {
  const rate = o.ratePerSec ?? 0;
  if (!(rate > 0)) return BASE_PREDICTION_WINDOW;
  const horizonS = (Math.min(Math.max(0, o.ageMs), MAX_HORIZON_MS) + PUNCH_LEAD_MS) / 1000;
  const lambda = rate * horizonS;
  const w = BASE_PREDICTION_WINDOW + Math.ceil(lambda + 3 * Math.sqrt(lambda));
  return Math.min(MAX_ADAPTIVE_WINDOW, w);
}
