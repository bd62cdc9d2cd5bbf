/**
 * Port prediction for NATs whose mapping is address(-and-port)-dependent but whose port
 * allocation is predictable (RFC 5128 §3.4 "port prediction"; RFC 4787 §4.1 calls keeping the
 * internal port "port preservation"). Pure: observations in, a pattern and ports out.
 *
 * How the pattern is measured (`natpush nat-check`, nat-allocation.ts): a few fresh sockets
 * each ask the STUN server for their mapping, in order. Their (local port, mapped port) pairs
 * say:
 * - preserving: mapped = local for every fresh socket. The next fresh socket's mapping toward
 *   any new destination is its own local port, so a peer can be told that port before a single
 *   packet left it.
 * - sequential(delta): consecutive mappings differ by one constant delta. The mapping the next
 *   new destination gets is last + delta — if no other host behind the NAT made one meanwhile,
 *   so we predict a short run last + delta·i, i = 1..window.
 * - random: nothing to predict; birthday probing (birthday.ts) or a port mapping (portmap/).
 *
 * How two sides use it: each side predicts the mappings its own NAT will give the packets it is
 * about to send to the peer and sends that list as candidates; the peer sends to them. With
 * sequential NATs on both sides, both send to the other's i-th predicted port from their own
 * i-th new mapping, in the same order, so the i-th pair meets (see `plannedOrder`).
 */

export type AllocationPattern =
  { kind: 'preserving' } | { kind: 'sequential'; delta: number } | { kind: 'random' };

export interface AllocationSample {
  /** The socket's local port. */
  localPort: number;
  /** The port the STUN server saw (the NAT's mapping), in the order the mappings were made. */
  mappedPort: number;
  /** Clock time its answer arrived (ms): the foreign allocation rate (prediction-window.ts). */
  atMs?: number;
  /**
   * Its place in the order the mappings were asked for (0, 1, …); default its index. A hole is
   * a sample whose answers were all lost (allocation-probe.ts): its request may or may not have
   * reached the NAT, so on a sequential NAT it may or may not have taken a port.
   */
  attempt?: number;
}

/**
 * Bounds: a sequential NAT's delta is small (1 and 2 are common; seen up to a few tens when a
 * NAT allocates in blocks), and one stray sample (another host's mapping in between) must not
 * hide the pattern, so a majority of the gaps must agree.
 */
export const MAX_SEQUENTIAL_DELTA = 64;
export const MIN_SAMPLES = 3;

/** Classifies the samples (at least MIN_SAMPLES, else RangeError: that is a caller bug). */
export function classifyAllocation(samples: readonly AllocationSample[]): AllocationPattern {
  if (samples.length < MIN_SAMPLES) {
    throw new RangeError(`need at least ${MIN_SAMPLES} samples, got ${samples.length}`);
  }
  // A majority, not all: a fresh socket whose local port another mapping on the NAT still
  // holds gets a random one (seen in netsim: 1 in ~20 measurements behind a preserving NAT were
  // taken for random). A random allocator keeps a port by chance with p ≈ 1/64,000 per sample.
  const kept = samples.filter((s) => s.mappedPort === s.localPort).length;
  if (kept * 2 > samples.length) return { kind: 'preserving' };
  const delta = commonDelta(steps(samples));
  if (delta !== undefined) return { kind: 'sequential', delta };
  return { kind: 'random' };
}

/** One step between answered samples: `gap` ports over `span` attempts (1 = no lost sample). */
interface Step {
  gap: number;
  span: number;
}

function steps(samples: readonly AllocationSample[]): Step[] {
  const out: Step[] = [];
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1]!;
    const b = samples[i]!;
    const span = (b.attempt ?? i) - (a.attempt ?? i - 1);
    if (!Number.isInteger(span) || span < 1) throw new RangeError('attempts must increase');
    out.push({ gap: b.mappedPort - a.mappedPort, span });
  }
  return out;
}

/**
 * The delta a majority of the steps agree with, if any. A step over `span` attempts made 1 to
 * `span` mappings (each lost sample may or may not have taken a port), so it agrees with d when
 * gap = d·m for some m in 1..span. Most agreeing steps win; then most steps without a hole;
 * then the smaller |d| (a hole of a delta-1 NAT also looks like delta 2).
 */
function commonDelta(all: readonly Step[]): number | undefined {
  const agrees = (s: Step, d: number) => s.gap % d === 0 && s.gap / d >= 1 && s.gap / d <= s.span;
  const candidates = new Set<number>();
  for (const s of all) {
    for (let m = 1; m <= s.span; m++) {
      const d = s.gap / m;
      if (Number.isInteger(d) && d !== 0 && Math.abs(d) <= MAX_SEQUENTIAL_DELTA) candidates.add(d);
    }
  }
  let best: { d: number; n: number; exact: number } | undefined;
  for (const d of candidates) {
    const n = all.filter((s) => agrees(s, d)).length;
    const exact = all.filter((s) => s.span === 1 && s.gap === d).length;
    const better =
      !best ||
      n > best.n ||
      (n === best.n &&
        (exact > best.exact || (exact === best.exact && Math.abs(d) < Math.abs(best.d))));
    if (better) best = { d, n, exact };
  }
  return best && best.n * 2 > all.length ? best.d : undefined;
}

export interface OwnPredictionInput {
  pattern: AllocationPattern;
  /** The last mapping the NAT made for us (the STUN answer just before the punch). */
  lastMappedPort: number;
  /** Local port of the socket that will send (for preserving: a fresh, never-used socket). */
  localPort: number;
  /** How many predicted ports to offer (sequential window). Default 8. */
  window?: number;
}

/** Ports offered at most: each one costs a mapping on our NAT and a probe from the peer. */
export const MAX_PREDICTION_WINDOW = 64;

/**
 * The external ports our NAT will most likely give the packets we are about to send to the
 * peer, most likely first. Empty for a random allocator.
 */
export function predictOwnPorts(i: OwnPredictionInput): number[] {
  const window = Math.min(i.window ?? 8, MAX_PREDICTION_WINDOW);
  if (!Number.isInteger(window) || window < 1) throw new RangeError('window must be >= 1');
  switch (i.pattern.kind) {
    case 'preserving':
      return [i.localPort];
    case 'sequential': {
      const out: number[] = [];
      for (let k = 1; k <= window; k++) {
        const p = i.lastMappedPort + i.pattern.delta * k;
        if (p >= 1 && p <= 65535) out.push(p);
      }
      return out;
    }
    case 'random':
      return [];
  }
}

/**
 * The order in which to probe the peer's predicted ports: as given. Both sides must walk their
 * lists in the same order on the first round, because on a sequential NAT each new destination
 * takes the next port: our k-th probe leaves from our k-th predicted port and reaches the
 * peer's k-th, exactly where the peer's k-th probe comes from. Later rounds repeat the list
 * (same destinations, same mappings) until a reply or the time limit.
 */
export function plannedOrder(peerPredicted: readonly number[]): number[] {
  return [...peerPredicted];
}

/** Is prediction worth trying for this pattern? */
export function predictable(p: AllocationPattern): boolean {
  return p.kind !== 'random';
}
