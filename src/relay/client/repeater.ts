/**
 * The TURN client's background refreshes (RFC 8656 §7.3 allocation, §9 permissions, §12
 * channels, and keepalives): each task runs every N seconds after the previous run settles.
 * Failures never throw; they go to `onFailure`. One timer per task at a time (the table is
 * bounded by the four tasks a client schedules).
 */
import type { Clock, TimerHandle } from '../../util/clock.js';

export class Repeater {
  readonly #clock: Clock;
  /** True once the client is closed or its allocation lost: nothing is armed any more. */
  readonly #stopped: () => boolean;
  readonly #onFailure: (what: string, err: unknown) => void;
  readonly #timers = new Map<string, TimerHandle>();

  constructor(
    clock: Clock,
    stopped: () => boolean,
    onFailure: (what: string, err: unknown) => void,
  ) {
    this.#clock = clock;
    this.#stopped = stopped;
    this.#onFailure = onFailure;
  }

  /** Run `fn` every `seconds`, each time after the previous run settled. */
  every(seconds: number, what: string, fn: () => Promise<unknown>): void {
    const arm = (): void => {
      this.#timers.delete(what);
      if (this.#stopped()) return;
      const t = this.#clock.setTimeout(() => {
        if (this.#stopped()) return;
        fn()
          .catch((err: unknown) => this.#onFailure(what, err))
          .finally(arm);
      }, seconds * 1000);
      this.#timers.set(what, t);
    };
    arm();
  }

  cancel(): void {
    for (const t of this.#timers.values()) t.cancel();
    this.#timers.clear();
  }
}
