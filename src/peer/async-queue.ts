/**
 * An unbounded-by-type but externally bounded FIFO with async iteration: the peer pushes
 * notifications, the application pulls them with `for await`. The server's delivery window
 * bounds how many can be here unconsumed (they are acked only when pulled).
 */
export class AsyncQueue<T> {
  #items: T[] = [];
  #waiters: ((r: IteratorResult<T>) => void)[] = [];
  #ended = false;
  readonly #onTake: ((item: T) => void) | undefined;

  /** `onTake` runs as each item leaves the queue for a reader (before its `next()` resolves). */
  constructor(onTake?: (item: T) => void) {
    this.#onTake = onTake;
  }

  get length(): number {
    return this.#items.length;
  }

  push(item: T): void {
    if (this.#ended) return;
    const w = this.#waiters.shift();
    if (w) {
      this.#onTake?.(item);
      w({ value: item, done: false });
    } else this.#items.push(item);
  }

  end(): void {
    this.#ended = true;
    for (const w of this.#waiters.splice(0)) w({ value: undefined, done: true });
  }

  /** Next item, or done when ended; `signal` aborts the wait (the item stays queued). */
  next(signal?: AbortSignal): Promise<IteratorResult<T>> {
    const item = this.#items.shift();
    if (item !== undefined) {
      this.#onTake?.(item);
      return Promise.resolve({ value: item, done: false });
    }
    if (this.#ended || signal?.aborted) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => {
      const w = (r: IteratorResult<T>) => {
        signal?.removeEventListener('abort', onAbort);
        resolve(r);
      };
      const onAbort = () => {
        const i = this.#waiters.indexOf(w);
        if (i >= 0) this.#waiters.splice(i, 1);
        resolve({ value: undefined, done: true });
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(w);
    });
  }
}
