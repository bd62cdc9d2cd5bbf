/**
 * Pacing of connectivity checks (RFC 8445 §6.1.4): one check every Ta, a triggered check first
 * (§6.1.4.1, a check that arrived on a pair queues ours on it), else the best waiting pair of the
 * checklist (§6.1.4.2). Ta spaces the new NAT mappings a session opens (RFC 8445 §14).
 * The triggered queue is bounded (PUNCH_LIMITS.maxTriggered): a flood of authenticated checks
 * from new sources cannot grow it.
 */
import type { Clock, TimerHandle } from '../util/clock.js';
import type { Checklist } from './checklist.js';
import type { CandidatePair } from './check-types.js';
import { PUNCH_LIMITS } from './constants.js';

export interface CheckPacerOptions {
  clock: Clock;
  taMs: number;
  list: Checklist;
  /** Checks are to go out (the agent started and selected nothing yet). */
  active(): boolean;
  /** Send the check on `pair` now. */
  check(pair: CandidatePair): void;
}

export class CheckPacer {
  readonly #o: CheckPacerOptions;
  /** Pair ids whose check is to go out at the next Ta, ahead of the ordinary ones (§6.1.4.1). */
  readonly #triggered: string[] = [];
  #timer: TimerHandle | undefined;

  constructor(o: CheckPacerOptions) {
    this.#o = o;
  }

  /** Triggered checks still queued. */
  get queued(): number {
    return this.#triggered.length;
  }

  /** Queue a triggered check on `pair` (once; dropped when the queue is full). */
  trigger(pair: CandidatePair): void {
    if (this.#triggered.includes(pair.id)) return;
    if (this.#triggered.length >= PUNCH_LIMITS.maxTriggered) return;
    this.#triggered.push(pair.id);
    this.kick();
  }

  /** Check now if the pacer is idle (at start, or when new pairs or triggers arrive). */
  kick(): void {
    if (this.#o.active() && !this.#timer) this.#tick();
  }

  stop(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  /** Every Ta: one check — a triggered one first, else the best waiting pair (§6.1.4.2). */
  #tick(): void {
    this.#timer = undefined;
    if (!this.#o.active()) return;
    let pair: CandidatePair | undefined;
    while (!pair && this.#triggered.length > 0) {
      const p = this.#o.list.get(this.#triggered.shift()!);
      if (p && p.state !== 'succeeded') pair = p;
    }
    pair ??= this.#o.list.bestWaiting();
    if (pair) this.#o.check(pair);
    const pending = this.#triggered.length > 0 || this.#o.list.count('waiting') > 0;
    if (pending) this.#timer = this.#o.clock.setTimeout(() => this.#tick(), this.#o.taMs);
  }
}
