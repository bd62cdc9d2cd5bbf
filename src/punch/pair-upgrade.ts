/**
 * A selected relayed pair gives way to a direct pair nominated later (RFC 5245 §8.1.1.2: with
 * aggressive nomination "the agent MUST select the highest-priority nominated pair" among the
 * valid ones; RFC 8445 §8.1.1, §7.3.1.5). nomination.ts nominates a relayed pair regularly after
 * the direct grace while the controlling side's aggressive checks of direct pairs still run, so
 * the two nominations race:
 *
 *   controlling: nominates relay ─────────┐   direct check answered → selects DIRECT
 *   controlled:  USE-CANDIDATE on relay → selects RELAY ─┘   USE-CANDIDATE on direct → (ignored)
 *
 * and each side held a different pair of one punch (netsim restarts, ~4 of 10 runs). The rule
 * here makes both end on the direct pair:
 * - controlled: a USE-CANDIDATE on a direct pair after a relayed one was selected (or one that
 *   came before it, whose own check had not succeeded then) moves the selection once OUR check
 *   on that pair is answered (the §7.3.1.5 condition: a replayed nomination moves nothing);
 * - controlling: its aggressive checks of direct pairs are not stopped by a relay selection; the
 *   first answered moves the selection (checks.ts keeps them, check-transactions.ts).
 * Only relay → direct: direct pairs always outrank relayed ones (RFC 8445 §5.1.2.2, type
 * preference 0 for relayed), and a move between two direct pairs could leave the sides apart
 * (the controlling side stops its other checks when it selects a direct pair), so the first
 * direct pair selected stays.
 */
import { StunClass } from '../stun/message-type.js';
import type { Role } from './check-message.js';
import { checkSucceeded } from './check-outcome.js';
import type { CheckTransactions } from './check-transactions.js';
import type { CandidatePair } from './check-types.js';

/**
 * Whether `to` may replace the selected `from` (see the header). Not toward a peer-reflexive
 * remote: a check the other side sent through ITS relay arrives from the relayed address, which
 * is peer-reflexive here (and 'direct') until its relayed candidate is signalled (checklist.ts
 * #relayed) — a regular nomination of a relayed pair would then pass for a direct one (relay-move
 * run: the controlled side "upgraded" onto the other side's relay while the controlling side held
 * its own relayed pair). Signalled host and server-reflexive remotes are what a direct upgrade
 * needs; a direct pair found only through a prflx keeps the first selection, as before.
 */
export function upgrades(from: CandidatePair | undefined, to: CandidatePair): boolean {
  return (
    from !== undefined &&
    from.kind === 'relay' &&
    to.kind === 'direct' &&
    to.remote.type !== 'prflx'
  );
}

export class PairUpgrade {
  /** Pair ids with a validating check out; bounded by the pair table (PUNCH_LIMITS.maxPairs). */
  readonly #validating = new Set<string>();

  constructor(
    readonly out: CheckTransactions,
    readonly role: () => Role,
    readonly selected: () => CandidatePair | undefined,
    /** The agent is closed or lost consent. */
    readonly done: () => boolean,
    /** Move the selection to `pair` (valid, nominated, and an upgrade). */
    readonly switchTo: (pair: CandidatePair) => void,
  ) {}

  /**
   * Controlled: the controlling side nominated `pair` (USE-CANDIDATE) after we selected; move to
   * it when it is valid, else check it first.
   */
  nominated(pair: CandidatePair): void {
    if (this.role() !== 'controlled' || !upgrades(this.selected(), pair)) return;
    pair.nominated = true;
    if (pair.state === 'succeeded') return this.switchTo(pair);
    this.#validate(pair);
  }

  /**
   * Controlled, at selection of a relayed pair: direct pairs nominated before it whose own check
   * had not succeeded yet (their checks stopped with the selection) are checked now.
   */
  selectedRelay(pairs: Iterable<CandidatePair>): void {
    for (const p of pairs) if (p.nominated) this.nominated(p);
  }

  /** Our check on `pair`, outside the (stopped) paced checks; its answer makes it valid. */
  #validate(pair: CandidatePair): void {
    const tx = this.out.engine(pair.base);
    if (!tx || this.#validating.has(pair.id) || this.done()) return;
    this.#validating.add(pair.id);
    this.out.probe(
      tx,
      pair,
      pair.remote,
      this.role(),
      (res) => {
        this.#validating.delete(pair.id);
        if (this.done() || res.message.cls !== StunClass.Success) return;
        checkSucceeded(pair, res.message, res.rttMs);
        if (upgrades(this.selected(), pair)) this.switchTo(pair);
      },
      () => this.#validating.delete(pair.id),
    );
  }
}
