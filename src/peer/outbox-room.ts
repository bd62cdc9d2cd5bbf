/**
 * Room in the recipients' session channels, for the Outbox (outbox.ts): per recipient, how many
 * of its notifications a channel holds, and which wait — in notify order — for room there.
 * A full channel is not a dead path: what does not fit waits here (bounded: MAX_WAITING over all
 * recipients, then the Outbox refuses with BACKPRESSURE) rather than going through the server.
 * Pure bookkeeping: the Outbox decides what is handed over and when.
 */
import { RELIABLE_DEFAULTS } from '../session/reliable-options.js';

/**
 * Notifications of this Outbox handed to one recipient's session channel and not yet settled:
 * the channel's own queue bound (reliable-options.ts maxQueuedMessages; PeerLink keeps the
 * default). The channel's queue never holds more than this, so it never refuses one with
 * BACKPRESSURE; the rest wait here for room instead of going through the server.
 */
export const CHANNEL_ROOM = RELIABLE_DEFAULTS.maxQueuedMessages;
/**
 * Notifications waiting for room in a session channel, over all recipients. Past it `notify`
 * rejects with BACKPRESSURE (NATPUSH_ERR_SESSION_BACKPRESSURE) so the app slows down, rather
 * than the load going to the server or the memory growing with the app's burst. 4096: with the
 * channel's 1,792 an app keeps ~5,900 unsettled notifications to a direct peer before it is
 * told to wait (the bench's flood windows are 1,000-4,000); bodies held here ≤ 4096 × 16 KiB =
 * 64 MiB worst case, ~400 KiB for 100-byte notifications.
 */
export const MAX_WAITING = 4096;

/** What waits: its place in notify order, and the lane it waits in (set while it does). */
export interface Waiter<T> {
  seq: number;
  lane?: Lane<T>;
}

/** One recipient's notifications on its session channel: handed over, and waiting for room. */
export interface Lane<T> {
  /** Handed to the channel (`link.post`), not settled there yet; ≤ CHANNEL_ROOM. */
  inChannel: number;
  /** Waiting for room, in notify order (by `seq`). */
  waiting: T[];
}

export class ChannelRoom<T extends Waiter<T>> {
  /**
   * Per recipient with notifications on or waiting for its session channel; a lane goes when
   * both are empty, so there are ≤ MAX_WAITING + the recipients with notifications in a channel
   * (≤ the link table's 256 links, each ≤ CHANNEL_ROOM).
   */
  readonly #lanes = new Map<string, Lane<T>>();
  /** Sum of the lanes' `waiting` (≤ MAX_WAITING). */
  #waiting = 0;

  /** `peer`'s lane, made if it has none. */
  lane(peer: string): Lane<T> {
    let lane = this.#lanes.get(peer);
    if (!lane) this.#lanes.set(peer, (lane = { inChannel: 0, waiting: [] }));
    return lane;
  }

  /** `peer`'s lane if it has one. */
  get(peer: string): Lane<T> | undefined {
    return this.#lanes.get(peer);
  }

  /** True if `lane`'s next notification may go straight to the channel (nothing waits first). */
  hasRoom(lane: Lane<T>): boolean {
    return lane.waiting.length === 0 && lane.inChannel < CHANNEL_ROOM;
  }

  /** True while MAX_WAITING notifications wait: one more is refused. */
  get full(): boolean {
    return this.#waiting >= MAX_WAITING;
  }

  /** Forget `peer`'s lane once nothing of it is in the channel or waiting. */
  drop(peer: string, lane: Lane<T>): void {
    if (lane.inChannel === 0 && lane.waiting.length === 0 && this.#lanes.get(peer) === lane)
      this.#lanes.delete(peer);
  }

  /** Into `lane.waiting` at its place in notify order (a channel refusal puts one back). */
  wait(p: T, lane: Lane<T>): void {
    const w = lane.waiting;
    let i = w.length;
    while (i > 0 && w[i - 1]!.seq > p.seq) i--;
    w.splice(i, 0, p);
    p.lane = lane;
    this.#waiting++;
  }

  /** Out of its lane's `waiting` (taken for the channel, or settled while it waited). */
  unwait(p: T): void {
    const lane = p.lane;
    if (!lane) return;
    p.lane = undefined;
    const i = lane.waiting[0] === p ? 0 : lane.waiting.indexOf(p);
    if (i >= 0) lane.waiting.splice(i, 1);
    this.#waiting--;
  }
}
