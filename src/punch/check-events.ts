/**
 * What a check agent reports (checks.ts): a pair selected, no pair possible, consent lost, the
 * remote moved. Sets, so one callback added twice is called once; iterating a Set while a
 * listener removes itself skips nobody. `clear` on close: no event fires after it.
 */
import type { Endpoint } from '../net/udp.js';
import type { CandidatePair } from './check-types.js';

export class ListenerSet<T> {
  readonly #ls = new Set<(v: T) => void>();

  /** Returns the unsubscribe function. */
  add(cb: (v: T) => void): () => void {
    this.#ls.add(cb);
    return () => this.#ls.delete(cb);
  }

  emit(v: T): void {
    for (const l of this.#ls) l(v);
  }

  clear(): void {
    this.#ls.clear();
  }
}

export class CheckEvents {
  readonly selected = new ListenerSet<CandidatePair>();
  /** The selection moved to another pair (pair-upgrade.ts). */
  readonly switched = new ListenerSet<CandidatePair>();
  readonly failed = new ListenerSet<string>();
  readonly dead = new ListenerSet<string>();
  readonly remoteMoved = new ListenerSet<Endpoint>();
  /** One consent check on the selected pair went unanswered (RFC 7675; consent is not lost yet). */
  readonly consentMissed = new ListenerSet<void>();

  clear(): void {
    this.selected.clear();
    this.switched.clear();
    this.failed.clear();
    this.dead.clear();
    this.remoteMoved.clear();
    this.consentMissed.clear();
  }
}
