/**
 * Which pair the controlling side nominates (RFC 8445 §8.1.1, "regular" nomination).
 *
 * The best DIRECT pair that succeeded; a relayed pair only when no direct pair succeeded within
 * `directGraceMs` or no direct pair is left to check (a relay is the fallback, RFC 8445 §5.1.2.2
 * ranks it last). Undefined: nothing to nominate yet.
 */
import type { Checklist } from './checklist.js';
import type { CandidatePair } from './check-types.js';

export function pickNomination(list: Checklist, graceOver: boolean): CandidatePair | undefined {
  const direct = list.bestSucceeded('direct');
  if (direct) return direct;
  if (graceOver || !list.directPending()) return list.bestSucceeded('relay');
  return undefined;
}
