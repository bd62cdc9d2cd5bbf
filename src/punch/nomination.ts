/**
 * Which pair the controlling side nominates, and how (RFC 8445 §8.1.1).
 *
 * Nomination (§8.1.1, "regular"): the controlling side sends a check with USE-CANDIDATE on the
 * first DIRECT pair that succeeded; a relayed pair only when no direct pair succeeded within
 * `directGraceMs` or no direct pair can still win: none is left to check, or every one left stayed
 * silent through the last punch with this peer (silent-direct.ts). A relay is the fallback (RFC
 * 8445 §5.1.2.2 ranks it last), and a direct pair that answers after a relay selection still
 * takes over (pair-upgrade.ts). The controlling side selects the pair when that check is answered; the controlled side
 * when it got USE-CANDIDATE on a pair whose own check succeeded (§7.3.1.5).
 *
 * Aggressive nomination (RFC 5245 §8.1.1.2, which RFC 8445 dropped for interop, not for safety):
 * the controlling side also puts USE-CANDIDATE on its ordinary checks of DIRECT pairs and selects
 * the first one answered, so the path is up one round trip earlier (the nomination check is the
 * last round trip of the regular scheme). The controlled side's rule is unchanged (its own check
 * must have succeeded), so a replayed nomination still selects nothing. With several working
 * direct pairs the two sides may select different ones (each its first), even on different
 * bases (issue 9/11: one side's pair ran to the other's relayed address, learned peer-reflexive);
 * the data filter therefore takes session datagrams from any pair, on either base, whose own
 * check succeeded or from which an authenticated check came (checklist.ts `validFor`), not only
 * from the selected remote; and a link whose pings get no pong on its path drops it
 * (peer/path-hearing.ts), since consent checks are answered on any pair.
 */
import type { Checklist } from './checklist.js';
import type { CandidatePair } from './check-types.js';

/**
 * The best direct pair that succeeded, else (grace over, or no direct pair left to check) the best
 * relayed one; undefined: nothing to nominate yet.
 */
export function pickNomination(
  list: Checklist,
  graceOver: boolean,
  silent?: ReadonlySet<string>,
): CandidatePair | undefined {
  const direct = list.bestSucceeded('direct');
  if (direct) return direct;
  if (graceOver || !list.directPending(silent)) return list.bestSucceeded('relay');
  return undefined;
}
