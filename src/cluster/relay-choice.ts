/**
 * Which relay a peer's TURN credentials name (pure: the candidates and their scores in, one id
 * out). The steps, in order:
 *
 * 1. Region: the peer's own region label if it gave one (`hello.region`), else serve's; when
 *    some candidate carries it, only those are considered (a peer signalling through an EU node
 *    relays through an EU relay, unless it says it is elsewhere); else all.
 * 2. Avoid: the relay this peer was handed moments ago (its allocation there failed; the peer
 *    asks again, relay-fleet.ts `reaskWindowMs`) is skipped when another one is left.
 * 3. Load: the lowest score wins (relay-fleet.ts: reported allocations + packets/s weighted +
 *    credentials handed since the last report). Ties go round robin from `turn`, so equal relays
 *    share a burst of peers evenly instead of all going to the first.
 */

export interface RelayCandidate {
  id: string;
  region?: string | undefined;
  /** Lower is better: about "allocations this relay holds, or will hold soon". */
  score: number;
}

export interface ChoiceOptions {
  region?: string | undefined;
  avoid?: string | undefined;
  /** Round-robin cursor for ties (the caller increments it per pick). */
  turn: number;
}

export function chooseRelay(
  candidates: readonly RelayCandidate[],
  o: ChoiceOptions,
): RelayCandidate | undefined {
  let pool = candidates;
  if (o.region !== undefined) {
    const same = pool.filter((c) => c.region === o.region);
    if (same.length > 0) pool = same;
  }
  if (o.avoid !== undefined && pool.length > 1) {
    const others = pool.filter((c) => c.id !== o.avoid);
    if (others.length > 0) pool = others;
  }
  if (pool.length === 0) return undefined;
  let best = Infinity;
  for (const c of pool) best = Math.min(best, c.score);
  const ties = pool.filter((c) => c.score === best);
  return ties[((o.turn % ties.length) + ties.length) % ties.length];
}

/**
 * A count that fades: each `add` adds 1, and the total decays as e^(−t/τ). With events at a
 * steady rate r it settles at r·τ — "how many of them happened in the last τ", in O(1) memory.
 */
export class DecayingCount {
  #value = 0;
  #at = 0;

  constructor(readonly tauMs: number) {
    if (!(tauMs > 0)) throw new RangeError(`tau must be > 0 ms, got ${tauMs}`);
  }

  value(nowMs: number): number {
    const dt = Math.max(0, nowMs - this.#at);
    return this.#value * Math.exp(-dt / this.tauMs);
  }

  add(nowMs: number, n = 1): void {
    this.#value = this.value(nowMs) + n;
    this.#at = Math.max(this.#at, nowMs);
  }
}
