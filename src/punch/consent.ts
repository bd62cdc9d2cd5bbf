/**
 * Consent freshness (RFC 7675) on a selected pair: a check every `intervalMs`, randomised to
 * 0.8–1.2× (§5.1, so peers do not synchronise), and consent lost after `timeoutMs` without an
 * authenticated answer (30 s). The checks also keep both NAT mappings alive (Linux conntrack
 * forgets an unanswered UDP flow after 30 s). The agent sends the checks (`check`) and reports
 * each authenticated success (`confirm`).
 */
import type { Clock, TimerHandle } from '../util/clock.js';

export interface ConsentOptions {
  clock: Clock;
  intervalMs: number;
  timeoutMs: number;
  random: () => number;
  /** The pair is still selected and the agent open: otherwise the checks stop. */
  alive(): boolean;
  /** Send one consent check now. */
  check(): void;
  /** No authenticated answer for `timeoutMs`. */
  onLost(reason: string): void;
}

export class ConsentFreshness {
  readonly #o: ConsentOptions;
  #last = 0;
  #timer: TimerHandle | undefined;

  constructor(o: ConsentOptions) {
    this.#o = o;
  }

  /** The pair was just selected: consent is fresh now. */
  start(): void {
    this.#last = this.#o.clock.now();
    this.#arm();
  }

  /** An authenticated consent response came. */
  confirm(): void {
    this.#last = this.#o.clock.now();
  }

  stop(): void {
    this.#timer?.cancel();
  }

  /** When the last authenticated consent response came. */
  get lastAt(): number {
    return this.#last;
  }

  #arm(): void {
    const jitter = 0.8 + 0.4 * this.#o.random();
    this.#timer = this.#o.clock.setTimeout(() => this.#tick(), this.#o.intervalMs * jitter);
  }

  #tick(): void {
    if (!this.#o.alive()) return;
    if (this.#o.clock.now() - this.#last >= this.#o.timeoutMs) {
      this.#o.onLost(`no consent response for ${this.#o.timeoutMs} ms`);
      return;
    }
    this.#o.check();
    this.#arm();
  }
}
