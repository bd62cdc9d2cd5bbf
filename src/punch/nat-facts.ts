/**
 * The NAT facts each side puts in its rendezvous frames (signaling `nat`: protocol.ts
 * `natFacts`), and the hard-NAT step both sides derive from them (hard-nat-plan.ts
 * `chooseHardNatTechnique`). Pure.
 *
 * Both sides run the same function on the same two fact sets (their own and the other's, swapped),
 * so they agree on the technique and on which side is the "hard" one for birthday probing without
 * another message. A fact a side does not know is filled in pessimistically: filtering unknown is
 * address-and-port-dependent (Linux conntrack's default, NETSIM-NOTES), allocation unknown is
 * random. Mapping unknown on either side means no plan: the punch runs as it did without facts
 * (ordinary checks, then the relay after the direct grace).
 */
import type { Dependence, HardNatTechnique, NatFacts } from './hard-nat-plan.js';
import { chooseHardNatTechnique } from './hard-nat-plan.js';

/** The wire form (signaling protocol.ts `natFacts`). */
export interface WireNatFacts {
  mapping?: Dependence;
  filtering?: Dependence;
  allocation?: 'preserving' | 'sequential' | 'random';
  /** The sequential allocator's step. */
  delta?: number;
  /** The router granted a port mapping for the peer's socket (a public one). */
  portMapping?: boolean;
  /**
   * A fresh, never-used socket's local port, reserved for the next punch: a port-preserving
   * symmetric NAT gives that socket's first mapping this same port, whatever its destination
   * (port-prediction.ts), so the peer can send to it before a packet left (hard-nat-step.ts).
   */
  preservedPort?: number;
}

/** What this side does in the hard-NAT step. */
export type HardNatRole =
  | { kind: 'none' }
  /** Go to the relay at once: no direct technique can work for this pair. */
  | { kind: 'relay' }
  /** Birthday probing: `hard` opens many sockets, `easy` sprays probes from its one socket. */
  | { kind: 'birthday'; side: 'hard' | 'easy' }
  /**
   * Port prediction (both NATs predictable, or a predictable one facing a port-restricted
   * cone). A sequential side's predicted ports travel as candidates (predicted-candidates.ts).
   * A preserving side punches from the fresh socket it reserved (`ownPreserved`, its local
   * port = its first mapping's port); the other side checks that port first
   * (`peerPreserved`). Either is undefined when that side is not preserving or sent no port.
   */
  | { kind: 'prediction'; ownPreserved?: number; peerPreserved?: number }
  /** Nothing extra: the candidates (mapped, predicted) already carry the technique. */
  | { kind: 'candidates'; technique: HardNatTechnique['kind'] };

function toFacts(w: WireNatFacts): NatFacts | undefined {
  if (!w.mapping) return undefined;
  const allocation =
    w.allocation === 'sequential' && w.delta !== undefined
      ? { kind: 'sequential' as const, delta: w.delta }
      : w.allocation === 'preserving'
        ? { kind: 'preserving' as const }
        : { kind: 'random' as const };
  return {
    mapping: w.mapping,
    filtering: w.filtering ?? 'address-and-port-dependent',
    allocation,
    ...(w.portMapping ? { portMapping: true } : {}),
  };
}

/** This side's part of the hard-NAT step for a punch between `local` and `remote`. */
export function hardNatRole(
  local: WireNatFacts | undefined,
  remote: WireNatFacts | undefined,
): HardNatRole {
  const a = local && toFacts(local);
  const b = remote && toFacts(remote);
  if (!a || !b) return { kind: 'none' };
  const t = chooseHardNatTechnique(a, b);
  switch (t.kind) {
    case 'relay':
      return { kind: 'relay' };
    case 'birthday':
      return { kind: 'birthday', side: t.hard === 'a' ? 'hard' : 'easy' };
    case 'prediction': {
      const own = preserved(local!);
      const peer = preserved(remote!);
      return {
        kind: 'prediction',
        ...(own !== undefined ? { ownPreserved: own } : {}),
        ...(peer !== undefined ? { peerPreserved: peer } : {}),
      };
    }
    default:
      return { kind: 'candidates', technique: t.kind };
  }
}

/** The reserved port of a preserving side, if it sent a valid one. */
function preserved(w: WireNatFacts): number | undefined {
  const p = w.preservedPort;
  return w.allocation === 'preserving' &&
    w.mapping !== 'endpoint-independent' &&
    Number.isInteger(p) &&
    p! >= 1 &&
    p! <= 65535
    ? p
    : undefined;
}
