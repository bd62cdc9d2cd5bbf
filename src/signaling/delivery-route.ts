/**
 * One online peer's route (delivery.ts): its session, a cursor into its mailbox, and the window
 * of notifications in flight — sent in mailbox order, at most `window` unacked, resent when they
 * stay unacked for `retryAfterMs`, deferred while the transport's buffer is full.
 */
import type { Clock, TimerHandle } from '../util/clock.js';
import type { SignalingMetrics } from './metrics.js';
import { ID_PATTERN, isSafeTopic, type Notification, type Transport } from './protocol.js';
import type { StoredNotification } from './store/store.js';

export interface PeerSession {
  readonly peer: string;
  readonly transport: Transport;
  /** Hand one notification to the transport; false = its buffer is full, try later. */
  offer(n: Notification): boolean;
  /** Close the session, telling the client why. */
  close(code: string, message: string): void;
}

export interface RouteOptions {
  clock: Clock;
  metrics: SignalingMetrics;
  /** LIMITS.deliveryWindow */
  window: number;
  /** TIMING.retryAfterMs */
  retryAfterMs: number;
  /** Delay before pumping again into a transport that reported a full buffer. */
  busyRetryMs: number;
}

export interface InFlight {
  /** Its mailbox seq; 0 while a notification sent early (`sendEarly`) is not written yet. */
  seq: number;
  n: Notification;
  sentAt: number;
}

export class Route {
  /** Every notification of the mailbox up to this seq was sent (or passed over). */
  cursor = 0;
  /** By id. Bound: `window`. */
  readonly inflight = new Map<string, InFlight>();
  retryTimer: TimerHandle | undefined;
  busyTimer: TimerHandle | undefined;
  /**
   * The last mailbox read returned everything there was: new notifications can be sent straight
   * from the commit (no read back from the store), or before it (`sendEarly`), as long as the
   * window has room.
   */
  caughtUp = false;
  /** Shared store: the mailbox is still being claimed and loaded; nothing is sent until then. */
  loading = false;
  /**
   * Read ahead (a store in this process only, delivery.ts `pump`): rows past the cursor that a
   * mailbox read returned but the window had no room for, in seq order, sent as it opens. A
   * recipient that is behind (more outstanding than the window, or back from offline) otherwise
   * costs one store read per ack, each for the one row the ack made room for; a read's fixed
   * cost (10–25 µs on this machine, measured 11:24 UTC, load 5) was more than an insert's.
   * Rows the route's own commits store (`takeStored`) are appended while it reaches the end of
   * the mailbox (`#aheadToEnd`), so a recipient that stays behind is not read back at all.
   * Bound: `window` rows (`#trim`). Dropped (`dropAhead`) when something may have removed a row
   * of it from the mailbox behind the route's back (an ack of a head row not sent on this
   * session).
   */
  #ahead: StoredNotification[] = [];
  /** `#ahead` ends where the mailbox ends: once it is sent, the route is caught up. */
  #aheadToEnd = false;
  #stopped = false;

  constructor(
    readonly session: PeerSession,
    private readonly o: RouteOptions,
    /** Read the mailbox and send (delivery.ts `pump`): after a busy spell, an empty window. */
    private readonly pump: () => void,
  ) {}

  /** Room in the window. */
  get room(): number {
    return this.o.window - this.inflight.size;
  }

  /**
   * How many rows a mailbox read should ask for to fill the window: the room, plus the early
   * ones in flight (`sendEarly`) that may have been written since, which the read returns too.
   */
  get readLimit(): number {
    let early = 0;
    for (const f of this.inflight.values()) if (f.seq === 0 || f.seq > this.cursor) early++;
    return this.room + early;
  }

  /** Rows read ahead and not sent yet (see `#ahead`). */
  get aheadCount(): number {
    return this.#ahead.length;
  }

  /** Forget the rows read ahead: the next pump reads the mailbox from the cursor again. */
  dropAhead(): void {
    this.#ahead = [];
    this.#aheadToEnd = false;
  }

  /**
   * Send what was read ahead and keep what the window did not take; if it went to the end of
   * the mailbox and all of it was sent, the route is caught up. False if nothing was read
   * ahead. A row that expired meanwhile is passed over, as the mailbox read would have (it is
   * deleted at the next sweep).
   */
  sendAhead(): boolean {
    if (this.#ahead.length === 0) return false;
    const batch = this.#ahead;
    this.#ahead = [];
    this.sendAll(batch, true);
    if (this.#ahead.length === 0 && this.#aheadToEnd && !this.busyTimer) this.caughtUp = true;
    return true;
  }

  /**
   * Send a mailbox read (`toEnd`: it returned everything past the cursor) as far as the window
   * takes it; keep the rest (`keep`: read ahead is on).
   */
  sendRead(batch: readonly StoredNotification[], toEnd: boolean, keep: boolean): void {
    this.caughtUp = toEnd;
    this.#aheadToEnd = toEnd;
    this.sendAll(batch, keep);
    this.#trim();
  }

  /**
   * Notifications for this peer the last commit stored, in seq order (delivery.ts `#onStored`).
   * Caught up: sent as far as the window takes them, the rest kept (`keep`). Behind, with the
   * read-ahead reaching the end of the mailbox: appended to it. True if taken either way;
   * false: they stay for the next mailbox read.
   */
  takeStored(list: readonly StoredNotification[], keep: boolean): boolean {
    const fresh = list.filter((n) => n.seq > this.cursor);
    if (this.caughtUp && !this.busyTimer) {
      this.#aheadToEnd = true;
      this.sendAll(fresh, keep);
    } else if (keep && this.#aheadToEnd && this.#ahead.length > 0) {
      for (const n of fresh) this.#ahead.push(n);
    } else return false;
    this.#trim();
    return true;
  }

  /** Bound the read-ahead to `window` rows; what is cut off is read from the mailbox later. */
  #trim(): void {
    if (this.#ahead.length <= this.o.window) return;
    this.#ahead.length = this.o.window;
    this.#aheadToEnd = false;
  }

  /**
   * Send in order while the window has room and the transport takes them; a busy transport
   * defers the rest, which is kept (`keep`: read ahead, see `#ahead`) or read again later. Those
   * sent early (`sendEarly`) and stored since keep their place.
   */
  sendAll(batch: readonly StoredNotification[], keep = false): void {
    const now = this.o.clock.now();
    for (let i = 0; i < batch.length; i++) {
      const n = batch[i]!;
      if (keep && n.expires <= now) {
        this.cursor = n.seq;
        continue;
      }
      const f = this.inflight.get(n.id);
      if (f?.n.from === n.from) {
        // Sent before it was written (`sendEarly`), now stored: it keeps its place.
        f.seq = n.seq;
        this.cursor = n.seq;
        continue;
      }
      if (!isDeliverable(n)) {
        // Stored before ids and topics had a strict alphabet (issue 8, finding 1): no client
        // would accept the frame, so it is passed over (it expires at its TTL) and counted.
        this.cursor = n.seq;
        this.o.metrics.drops.inc({ reason: 'invalid_stored', type: 'deliver' });
        continue;
      }
      if (f || this.room <= 0) {
        // Another sender's notification with the same id is in flight (an ack names only the
        // id, so this one waits, in order, until that one is acked), or the window is full.
        this.caughtUp = false;
        if (keep) this.#ahead = batch.slice(i);
        break;
      }
      // One copy without `seq`: the frame's and the in-flight entry's (it was made twice).
      const plain = stripSeq(n);
      if (!this.#send(plain)) {
        this.caughtUp = false;
        if (keep) this.#ahead = batch.slice(i);
        this.#busy();
        break;
      }
      this.cursor = n.seq;
      this.inflight.set(n.id, { seq: n.seq, n: plain, sentAt: now });
    }
    if (this.inflight.size > 0) this.#armRetry();
  }

  /**
   * The fast path (early-accepts.ts): send `n`, accepted but not yet written, now. Only into a
   * caught-up window with room — everything stored before it was sent, so it overtakes nothing —
   * and only if nothing with its id is in flight. False: not sent, it goes the usual way.
   */
  sendEarly(n: Notification): boolean {
    if (!this.caughtUp || this.busyTimer || this.loading || this.room <= 0) return false;
    if (this.inflight.has(n.id) || !isDeliverable(n)) return false;
    if (!this.#send(n)) {
      this.caughtUp = false;
      this.#busy();
      return false;
    }
    this.inflight.set(n.id, { seq: 0, n, sentAt: this.o.clock.now() });
    this.#armRetry();
    return true;
  }

  /** The route ended: no timer fires any more. */
  stop(): void {
    this.#stopped = true;
    this.dropAhead();
    this.retryTimer?.cancel();
    this.busyTimer?.cancel();
    this.retryTimer = undefined;
    this.busyTimer = undefined;
  }

  #send(n: Notification): boolean {
    const ok = this.session.offer(n);
    if (ok) this.o.metrics.deliveries.inc({ transport: this.session.transport });
    return ok;
  }

  #busy(): void {
    this.o.metrics.deferred.inc({ transport: this.session.transport });
    this.busyTimer = this.o.clock.setTimeout(() => {
      this.busyTimer = undefined;
      this.pump();
    }, this.o.busyRetryMs);
  }

  #armRetry(): void {
    if (this.retryTimer) return;
    this.retryTimer = this.o.clock.setTimeout(() => {
      this.retryTimer = undefined;
      this.#retry();
    }, this.o.retryAfterMs);
  }

  #retry(): void {
    if (this.#stopped) return;
    const now = this.o.clock.now();
    for (const f of this.inflight.values()) {
      if (now - f.sentAt < this.o.retryAfterMs) continue;
      if (f.n.expires <= now) {
        this.inflight.delete(f.n.id);
        continue;
      }
      if (!this.#send(f.n)) break;
      f.sentAt = now;
      this.o.metrics.retries.inc({ transport: this.session.transport });
    }
    if (this.inflight.size > 0) this.#armRetry();
    else this.pump();
  }
}

/** What today's schema would accept in a `deliver` (rows stored by older versions may not). */
function isDeliverable(n: Notification): boolean {
  return ID_PATTERN.test(n.id) && ID_PATTERN.test(n.from) && isSafeTopic(n.topic);
}

function stripSeq(n: Notification & { seq?: number }): Notification {
  return {
    id: n.id,
    from: n.from,
    to: n.to,
    topic: n.topic,
    body: n.body,
    ts: n.ts,
    expires: n.expires,
  };
}
