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
  const gaps: number[] = [];
  for (let i = 1; i < samples.length; i++) {
    gaps.push(samples[i]!.mappedPort - samples[i - 1]!.mappedPort);
  }
  const counts = new Map<number, number>();
  for (const g of gaps) counts.set(g, (counts.get(g) ?? 0) + 1);
  const [delta, n] = [...counts].sort((a, b) => b[1] - a[1])[0]!;
  if (delta !== 0 && Math.abs(delta) <= MAX_SEQUENTIAL_DELTA && n * 2 > gaps.length) {
    return { kind: 'sequential', delta };
  }
  return { kind: 'random' };
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
