/**
 * Consent freshness (RFC 7675) on a selected pair: a check every `intervalMs`, randomised to
 * 0.8–1.2× (§5.1, so peers do not synchronise), and consent lost after `timeoutMs` without an
 * authenticated answer (30 s). The checks also keep both NAT mappings alive (Linux conntrack
 * forgets an unanswered UDP flow after 30 s). The checks are probes on the agent's selected pair
 * (`selectedPairConsent`); each authenticated success refreshes consent (`confirm`).
 */
import { StunClass } from '../stun/message-type.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import type { Role } from './check-message.js';
import type { CheckTransactions } from './check-transactions.js';
import type { CandidatePair, CheckAgentOptions } from './check-types.js';
import { PUNCH_DEFAULTS } from './constants.js';

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

/** What consent needs of its check agent (checks.ts). */
export interface ConsentHost {
  options: CheckAgentOptions;
  out: CheckTransactions;
  /** The pair consent is for (it may change: pair-upgrade.ts). */
  selected(): CandidatePair | undefined;
  /** The agent is closed or failed. */
  done(): boolean;
  role(): Role;
  onLost(reason: string): void;
  /** One consent check went unanswered (its retransmissions, ≤ 4.5 s). */
  onMissed(): void;
}

/** Consent on the agent's selected pair: one probe per interval toward its remote. */
export function selectedPairConsent(h: ConsentHost): ConsentFreshness {
  const o = h.options;
  const consent: ConsentFreshness = new ConsentFreshness({
    clock: o.clock,
    intervalMs: o.consentIntervalMs ?? PUNCH_DEFAULTS.consentIntervalMs,
    timeoutMs: o.consentTimeoutMs ?? PUNCH_DEFAULTS.consentTimeoutMs,
    random: o.random ?? Math.random,
    alive: () => h.selected() !== undefined && !h.done(),
    check: () => {
      const pair = h.selected();
      const tx = pair && h.out.engine(pair.base);
      if (!pair || !tx) return;
      const answered = (res: { message: { cls: number } }): void => {
        if (res.message.cls === StunClass.Success) consent.confirm();
      };
      h.out.probe(tx, pair, pair.remote, h.role(), answered, () => h.onMissed());
    },
    onLost: (reason) => h.onLost(reason),
  });
  return consent;
}
