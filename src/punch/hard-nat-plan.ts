/**
 * Which hard-NAT technique a pair of peers should use, from what each side knows about its own
 * NAT (nat-check: mapping, filtering, allocation pattern, a usable port mapping). Pure. This is
 * the decision the connector's hard-NAT step makes once both sides' facts are in the
 * rendezvous; "relay" means: go to the relay at once instead of burning time (issue 11).
 *
 * | A \ B                         | cone (EIM)                         | predictable APDM | random APDM |
 * | ----------------------------- | ---------------------------------- | ---------------- | ----------- |
 * | port mapping on either side   | mapping                            | mapping          | mapping     |
 * | cone (EIM)                    | punch                              | punch* / predict | punch (EIF/ADF) / birthday |
 * | predictable APDM (pres./seq.) | punch* / predict                   | prediction       | relay       |
 * | random APDM                   | punch (EIF/ADF) / birthday         | relay            | relay       |
 * (* an APDM side facing an endpoint-independent-filtering or address-dependent-filtering cone
 * gets through by the cone side answering its real source, as plain punching does.)
 * Address-dependent mapping behaves as random APDM here unless its allocation is predictable.
 */
import type { AllocationPattern } from './port-prediction.js';

export type Dependence =
  'endpoint-independent' | 'address-dependent' | 'address-and-port-dependent';

export interface NatFacts {
  mapping: Dependence;
  filtering: Dependence;
  allocation?: AllocationPattern;
  /** A usable (public) router port mapping for the peer socket. */
  portMapping?: boolean;
}

export type HardNatTechnique =
  | { kind: 'mapping'; via: 'a' | 'b' }
  | { kind: 'punch' }
  | { kind: 'prediction' }
  | { kind: 'birthday'; hard: 'a' | 'b' }
  | { kind: 'relay' };

function predictable(f: NatFacts): boolean {
  return f.allocation !== undefined && f.allocation.kind !== 'random';
}

export function chooseHardNatTechnique(a: NatFacts, b: NatFacts): HardNatTechnique {
  if (a.portMapping) return { kind: 'mapping', via: 'a' };
  if (b.portMapping) return { kind: 'mapping', via: 'b' };
  const eimA = a.mapping === 'endpoint-independent';
  const eimB = b.mapping === 'endpoint-independent';
  if (eimA && eimB) return { kind: 'punch' };
  if (eimA || eimB) {
    const [cone, other, otherName] = eimA ? [a, b, 'b' as const] : [b, a, 'a' as const];
    // The cone side lets the other's new mapping in and answers its real source.
    if (cone.filtering !== 'address-and-port-dependent') return { kind: 'punch' };
    return predictable(other) ? { kind: 'prediction' } : { kind: 'birthday', hard: otherName };
  }
  return predictable(a) && predictable(b) ? { kind: 'prediction' } : { kind: 'relay' };
}
