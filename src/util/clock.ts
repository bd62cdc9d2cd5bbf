/**
 * Time, injected. Components take a `Clock` instead of calling `Date.now()` or `setTimeout`
 * directly, so unit tests drive them with a `ManualClock` and never sleep (STYLE.md §3).
 */
export interface TimerHandle {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds since the epoch (wall clock; monotonic enough for timeouts here). */
  now(): number;
  /** Run `fn` once after `ms` milliseconds. The handle never keeps the process alive. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref();
    return { cancel: () => clearTimeout(t) };
  },
};

interface PendingTimer {
  at: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

/** A clock that moves only when told to: `advance(ms)` fires due timers in order. */
export class ManualClock implements Clock {
  #now: number;
  #seq = 0;
  #timers: PendingTimer[] = [];

  constructor(start = 1_700_000_000_000) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`timer delay must be >= 0, got ${ms}`);
    const timer: PendingTimer = { at: this.#now + ms, seq: this.#seq++, fn, cancelled: false };
    this.#timers.push(timer);
    return {
      cancel: () => {
        timer.cancelled = true;
      },
    };
  }

  /** Number of timers still waiting to fire. */
  get pending(): number {
    return this.#timers.filter((t) => !t.cancelled).length;
  }

  /** Move time forward by `ms`, firing every timer that falls due, earliest first. */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      const next = this.#nextDue(end);
      if (!next) break;
      this.#now = next.at;
      this.#timers.splice(this.#timers.indexOf(next), 1);
      next.fn();
    }
    this.#now = end;
  }

  /** Await-friendly advance: lets promise callbacks run between timers. */
  async advanceAsync(ms: number): Promise<void> {
    const end = this.#now + ms;
    for (;;) {
      await flushMicrotasks();
      const next = this.#nextDue(end);
      if (!next) break;
      this.#now = next.at;
      this.#timers.splice(this.#timers.indexOf(next), 1);
      next.fn();
    }
    this.#now = end;
    await flushMicrotasks();
  }

  #nextDue(end: number): PendingTimer | undefined {
    this.#timers = this.#timers.filter((t) => !t.cancelled);
    let best: PendingTimer | undefined;
    for (const t of this.#timers) {
      if (t.at > end) continue;
      if (!best || t.at < best.at || (t.at === best.at && t.seq < best.seq)) best = t;
    }
    return best;
  }
}

async function flushMicrotasks(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}
