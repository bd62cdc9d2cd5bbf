/**
 * Predicted server-reflexive candidates for a peer behind an address-and-port-dependent
 * ("symmetric") NAT whose port allocation is sequential (RFC 5128 §3.4 "port prediction"; the
 * pattern is measured by allocation-probe.ts, classified by port-prediction.ts). Pure.
 *
 * On the peer's ONE socket the srflx candidate is the mapping toward the STUN server only; a
 * symmetric NAT gives the packets toward the peer new mappings. A sequential NAT hands those out
 * as last + delta, last + 2·delta, …, so we offer them as candidates before a packet left.
 *
 * Why these candidates rank above every host candidate (type preference 127, outside RFC 8445's
 * 0–126 for real types: they are natpush-to-natpush only, the wire schema allows any 32-bit
 * priority). With both sides sequential, our k-th new destination must be the peer's k-th
 * predicted port while the peer's k-th new destination is our k-th predicted port
 * (port-prediction.ts `plannedOrder`). Any check to another new destination first (the peer's
 * private host address, which leaves through our NAT by the default route and takes a port of
 * its counter) shifts one side's ports by one and no pair meets. The checks go out in pair
 * priority order (RFC 8445 §6.1.4.2), so ranked first they are each side's first new mappings,
 * in the same order on both sides. The cost on a LAN where host would have won: `window` extra
 * checks (one Ta each) before the host pair — only for peers whose own NAT is sequential.
 *
 * Preserving allocation gives nothing on the one socket: its first mapping (toward STUN) took
 * the local port, so every further mapping of that socket is drawn elsewhere (the port is
 * taken). Random allocation gives nothing either (birthday probing needs many sockets).
 */
import type { Candidate } from './candidates.js';
import { predictOwnPorts, type AllocationPattern } from './port-prediction.js';

/**
 * Predicted ports offered by default: the peer probes each one and each costs a mapping on its
 * NAT. Four covers the pair's first four new destinations on a quiet NAT; the Peer widens it for
 * a NAT other hosts allocate on (prediction-window.ts).
 */
export const PREDICTION_WINDOW = 4;

/** Above host (126): see the header. Highest for the first predicted port, distinct per port. */
export const PREDICTED_TYPE_PREFERENCE = 127;

export function predictedPriority(index: number): number {
  if (!Number.isInteger(index) || index < 0 || index > 255)
    throw new RangeError(`prediction index must be 0..255, got ${index}`);
  return PREDICTED_TYPE_PREFERENCE * 2 ** 24 + (65535 - index) * 2 ** 8 + 255;
}

export interface PredictionInput {
  pattern: AllocationPattern;
  /** Mapped ports the measurement saw on this NAT (fresh sockets toward the STUN server). */
  samplePorts: readonly number[];
  /** The candidates gathered so far on the socket: the srflx one gives the public address. */
  gathered: readonly Candidate[];
  /**
   * The NAT's last mapping for certain (a binding made after everything else: the refresh after
   * a punch). Overrides the samples and the srflx, which are older; also right after the
   * counter wrapped round, where the largest sample is not the last one.
   */
  last?: number;
  window?: number;
}

/**
 * The predicted candidates, or none when the allocation is not sequential or no srflx is known.
 * The next mapping follows the LAST one the NAT made: the extreme, in the delta's direction, of
 * the measured samples and the socket's own srflx mapping (which of those came last is a race
 * at start-up; the counter only moves one way).
 */
export function predictedCandidates(i: PredictionInput): Candidate[] {
  if (i.pattern.kind !== 'sequential') return [];
  const srflx = i.gathered.find((c) => c.type === 'srflx');
  if (!srflx) return [];
  const { delta } = i.pattern;
  const seen = [...i.samplePorts, srflx.port];
  const last = i.last ?? (delta > 0 ? Math.max(...seen) : Math.min(...seen));
  const ports = predictOwnPorts({
    pattern: i.pattern,
    lastMappedPort: last,
    localPort: 0,
    window: i.window ?? PREDICTION_WINDOW,
  });
  return ports.map((port, k) => ({
    type: 'srflx' as const,
    address: srflx.address,
    port,
    priority: predictedPriority(k),
  }));
}
