/**
 * When a PeerLink tries for a direct path again (peer-link-upgrade.ts): after a punch that failed
 * or gave only the relay, and after a UDP path went down, with exponential backoff (`REPUNCH`: 5 s
 * doubling to 2 min). Both sides back off; either may re-punch when its timer fires (the
 * connector joins or resolves glare), so a failed punch is retried even if the other side never
 * asks. Two exceptions re-punch at once rather than a backoff later:
 * - the path died while our punch ran (that punch was begun before the death was known, so its
 *   failure says nothing of the next one);
 * - the punch failed because our relay allocation was lost (connector.ts ends such a punch at
 *   once): the next one offers the gatherer's new allocation (issue 12).
 * Once per death: a second failure backs off as usual. One timer, no table.
 */
import type { Clock, TimerHandle } from '../util/clock.js';
import { REPUNCH } from './peer-link-types.js';

/** What a dead relay's reasons say (path.ts, connector.ts): the fleet has another relay. */
const RELAY_LOST = 'relay allocation lost';

export interface RepunchPolicyOptions {
  clock: Clock;
  /** Backoff of the retries; default REPUNCH. */
  backoff?: { initial: number; max: number };
  /** The link is closed: never schedule. */
  closed: () => boolean;
  /** The session has keys (a punch is asked for only then). */
  established: () => boolean;
  /** Punch now (LinkUpgrade's `maybe(true)`). */
  punch: () => void;
}

export class RepunchPolicy {
  readonly #o: RepunchPolicyOptions;
  #failures = 0;
  #timer: TimerHandle | undefined;
  /** The path went down while our punch ran: re-punch the moment it ends (`afterPunch`). */
  #downWhilePunching = false;

  constructor(o: RepunchPolicyOptions) {
    this.#o = o;
  }

  /** A re-punch is scheduled: no punch before its timer fires. */
  get waiting(): boolean {
    return this.#timer !== undefined;
  }

  /** A punch failed, or gave only the relay (or a direct pair turned out relayed). */
  failed(): void {
    this.#failures++;
  }

  /** A direct path was adopted: the next failure starts the backoff again. */
  succeeded(): void {
    this.#failures = 0;
  }

  /** The UDP path went down (`reason` as logged). */
  down(reason: string, punching: boolean): void {
    // A dead relay (path.ts): the fleet has another, so re-punch at the first step (issue 12).
    this.#failures = reason.includes(RELAY_LOST) ? 0 : this.#failures + 1;
    // A re-punch timer firing while the punch runs would find it running and be lost, and the
    // punch may be one that cannot succeed (on the allocation that just died): its end decides.
    if (punching) this.#downWhilePunching = true;
    else this.schedule();
  }

  /**
   * A punch ended (`failure`: its error, if it threw). Without a live path after a death under
   * it, or after a failure for our lost relay allocation: punch now (see the header).
   */
  afterPunch(failure: string | undefined, hasLivePath: boolean): void {
    const down = this.#downWhilePunching;
    this.#downWhilePunching = false;
    if (this.#o.closed() || hasLivePath) return;
    const relayLost = failure?.includes(RELAY_LOST) === true;
    if (!down && !relayLost) return; // a failure scheduled the usual backoff already
    if (failure === undefined) return this.schedule(); // no punch ran (no connector)
    if (relayLost) this.#failures = 0;
    this.cancel();
    if (this.#o.established()) this.#o.punch();
    else this.schedule();
  }

  /** Try again after the backoff (no-op if a retry is already scheduled). */
  schedule(): void {
    if (this.#o.closed() || this.#timer) return;
    const r = this.#o.backoff ?? REPUNCH;
    const delay = Math.min(r.max, r.initial * 2 ** Math.max(0, this.#failures - 1));
    this.#timer = this.#o.clock.setTimeout(() => {
      this.#timer = undefined;
      if (this.#o.established()) this.#o.punch();
    }, delay);
  }

  cancel(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
  }
}
