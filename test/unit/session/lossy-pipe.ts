import type { ManualClock } from '../../../src/util/clock.js';

/** Deterministic PRNG (mulberry32) so a lossy run is reproducible from its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface PipeOptions {
  /** Probability a datagram is dropped. */
  loss?: number;
  /** Probability a datagram is delivered twice. */
  duplicate?: number;
  /** One-way delay, ms. */
  delayMs?: number;
  /** Extra uniform random delay in [0, jitterMs): reorders datagrams sent closer than this. */
  jitterMs?: number;
  seed?: number;
}

/**
 * A one-way in-memory datagram link on a ManualClock: loss, duplication, delay and reordering.
 * `taps` see every datagram sent (what an on-path third party captures), before loss.
 */
export class LossyPipe {
  readonly #clock: ManualClock;
  readonly #rand: () => number;
  readonly #o: Required<Omit<PipeOptions, 'seed'>>;
  #deliver: (d: Uint8Array) => void;
  /** Drop datagrams for which this returns true (targeted loss). */
  dropIf: ((d: Uint8Array) => boolean) | undefined;
  readonly taps: ((d: Uint8Array) => void)[] = [];
  sent = 0;
  delivered = 0;
  cut = false;
  #generation = 0;

  constructor(clock: ManualClock, deliver: (d: Uint8Array) => void, o: PipeOptions = {}) {
    this.#clock = clock;
    this.#deliver = deliver;
    this.#rand = prng(o.seed ?? 1);
    this.#o = {
      loss: o.loss ?? 0,
      duplicate: o.duplicate ?? 0,
      delayMs: o.delayMs ?? 10,
      jitterMs: o.jitterMs ?? 0,
    };
  }

  /** Lose everything currently in flight (a path that died under its datagrams). */
  dropInFlight(): void {
    this.#generation++;
  }

  setOptions(o: PipeOptions): void {
    Object.assign(this.#o, o);
  }

  readonly send = (d: Uint8Array): void => {
    this.sent++;
    const copy = Uint8Array.from(d);
    for (const t of this.taps) t(copy);
    if (this.cut || this.dropIf?.(copy) || this.#rand() < this.#o.loss) return;
    const copies = this.#rand() < this.#o.duplicate ? 2 : 1;
    const generation = this.#generation;
    for (let i = 0; i < copies; i++) {
      const delay = this.#o.delayMs + this.#rand() * this.#o.jitterMs;
      this.#clock.setTimeout(() => {
        if (generation !== this.#generation) return;
        this.delivered++;
        this.#deliver(copy);
      }, delay);
    }
  };
}
