/**
 * The primary's copy of every worker's mirrored UDP allocations (relay/server/siblings.ts), so
 * that a worker that starts — a replacement for one that died, or the second of two — gets the
 * others' existing allocations at once instead of only the ones that change after it came up.
 * Without it a replacement held no copies, and every packet from its clients to the others'
 * clients took the slower kernel path (correct, ~1.6× the CPU) until those allocations were next
 * refreshed, up to their lifetime later.
 *
 * The primary already passes every `mirror` message on (pool.ts); it records each here with the
 * same rule as a worker's SiblingTable — a relayed port holds one allocation, the last one set;
 * an end deletes it only when it comes from the worker that holds it (a port freed by one worker
 * and taken by another may be announced in either order over their two pipes) — so the snapshot
 * a starting worker gets equals what it would hold had it been there all along. The snapshot is
 * sent right behind the worker's `start` (it holds it until its server serves: a replacement
 * must know the others' clients when it joins the shared port, sibling-client.ts), on the same
 * pipe and after every update passed on before: later updates apply on top, in order.
 *
 * Bounded: one entry per live UDP allocation of the whole server, at most `max` =
 * --max-allocations (the ledger, ledger.ts, refuses allocations beyond it); an entry beyond it is
 * not recorded (counted in `refused`; a starting worker then lacks that copy: the kernel path).
 * Each entry is at most maxPermissionsPerAllocation + maxChannelsPerAllocation items.
 */
import type { SiblingState } from '../../relay/server/siblings.js';
import { MIRROR_SNAPSHOT_CHUNK } from './constants.js';

/** [owner worker, relayed port, state]: one allocation in a snapshot message. */
export type MirrorEntry = [number, number, SiblingState];

export class MirrorCache {
  readonly #byPort = new Map<number, { owner: number; state: SiblingState }>();
  /** Entries not recorded because the cache was full. */
  refused = 0;

  constructor(readonly max: number) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError('max must be an integer >= 1');
  }

  get size(): number {
    return this.#byPort.size;
  }

  /** Worker `from`'s allocation on relayed port `port` is now `state` (undefined: it ended). */
  set(from: number, port: number, state: SiblingState | undefined): void {
    const held = this.#byPort.get(port);
    if (state === undefined) {
      if (held?.owner === from) this.#byPort.delete(port);
      return;
    }
    if (held === undefined && this.#byPort.size >= this.max) {
      this.refused++;
      return;
    }
    this.#byPort.set(port, { owner: from, state });
  }

  /** Worker `from` died: its allocations died with it. */
  forget(from: number): void {
    for (const [port, e] of this.#byPort) if (e.owner === from) this.#byPort.delete(port);
  }

  /**
   * What worker `to` should hold of the others' allocations at `now`, in messages of at most
   * MIRROR_SNAPSHOT_CHUNK entries. Expired allocations are left out and dropped here (their
   * owner's sweep announces their end too; this only saves sending them first).
   */
  snapshot(to: number, now: number): MirrorEntry[][] {
    const chunks: MirrorEntry[][] = [];
    let chunk: MirrorEntry[] = [];
    for (const [port, e] of this.#byPort) {
      if (e.state.expiresAt <= now) {
        this.#byPort.delete(port);
        continue;
      }
      if (e.owner === to) continue;
      chunk.push([e.owner, port, e.state]);
      if (chunk.length === MIRROR_SNAPSHOT_CHUNK) {
        chunks.push(chunk);
        chunk = [];
      }
    }
    if (chunk.length > 0) chunks.push(chunk);
    return chunks;
  }
}
