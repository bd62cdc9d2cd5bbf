/**
 * Server-routed delivery (rung 3 of DESIGN.md's ladder) on top of the mailbox (rung 4).
 *
 * Every accepted notification is in the mailbox until its recipient acks it. For each online
 * peer this engine keeps a cursor into the mailbox and a window of in-flight notifications:
 * it sends in mailbox order (= per-sender order), at most `window` unacked at a time (the
 * bounded per-peer queue), resends what stays unacked for `retryAfterMs`, and starts again from
 * the beginning of the mailbox whenever the peer reconnects. The receiver drops ids it has seen,
 * which turns this at-least-once stream into exactly-once for the application.
 *
 * Pure of sockets: transports plug in as `PeerSession`s. Timers come from the injected clock.
 *
 * With a shared store (several serve nodes on Redis) a session first `claim`s its peer — the
 * store routes the peer's notifications to this node and loads its mailbox — and the route
 * sends nothing until that resolved; every read after it is the same synchronous `pending`.
 */
import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import { Route, type PeerSession } from './delivery-route.js';
import type { AckRef, Mailbox } from './mailbox.js';
import type { SignalingMetrics } from './metrics.js';
import type { Notification, Transport } from './protocol.js';
import {
  isSharedStore,
  type Removed,
  type SharedMailboxStore,
  type StoredNotification,
} from './store/store.js';
import { notificationBytes } from './store/usage.js';

export type { PeerSession } from './delivery-route.js';

export interface DeliveryOptions {
  mailbox: Mailbox;
  clock: Clock;
  logger: Logger;
  metrics: SignalingMetrics;
  /** LIMITS.deliveryWindow */
  window: number;
  /** TIMING.retryAfterMs */
  retryAfterMs: number;
  /** Delay before pumping again into a transport that reported a full buffer. */
  busyRetryMs?: number;
}

export interface DeliveryEvents {
  /** A peer came online or went offline. */
  presence(peer: string, online: boolean, transport: Transport | undefined): void;
  /** The recipient acked a notification; tell its sender. */
  delivered(r: Removed, via: Transport): void;
}

export class Delivery {
  readonly #o: DeliveryOptions;
  /**
   * One route per peer with a live session. Bound: one per session, and sessions are bounded
   * by `LIMITS.maxConnections` (WebSocket, SSE) and `LIMITS.maxPollSessions` (long-poll).
   */
  readonly #routes = new Map<string, Route>();
  events: DeliveryEvents = { presence: () => {}, delivered: () => {} };
  /**
   * Shared store: acks of a peer with no session here go to the node that has it (`ack`
   * with `forward = false` applies them there).
   */
  onForeignAck: ((peer: string, ids: readonly string[], via: Transport) => void) | undefined;
  /** Shared store: told when a peer's claim succeeded (its route is set in the store). */
  onClaimed: (peer: string) => void = () => {};

  constructor(o: DeliveryOptions) {
    this.#o = o;
    o.mailbox.onStored = (stored) => this.#onStored(stored);
    o.mailbox.sendEarly = (n) => this.#sendEarly(n);
    o.mailbox.onRemoved = (removed) => this.#onRemoved(removed);
    const store = o.mailbox.store;
    if (isSharedStore(store)) {
      store.onRefilled = (peer) => this.wake(peer);
      store.onEvicted = (peer) => this.#evicted(peer);
    }
  }

  get onlineCount(): number {
    return this.#routes.size;
  }

  session(peer: string): PeerSession | undefined {
    return this.#routes.get(peer)?.session;
  }

  /** Shared store: the peer's session here is still claiming its route and mailbox. */
  claiming(peer: string): boolean {
    return this.#routes.get(peer)?.loading === true;
  }

  inflightCount(peer: string): number {
    return this.#routes.get(peer)?.inflight.size ?? 0;
  }

  /** Make `s` the peer's session, replacing (and closing) any older one; then send its mail. */
  attach(s: PeerSession): void {
    const old = this.#routes.get(s.peer);
    if (old) {
      old.stop();
      this.#routes.delete(s.peer);
      old.session.close('NATPUSH_ERR_REPLACED', 'a newer connection of this peer took over');
    }
    const o = this.#o;
    const opts = { ...o, busyRetryMs: o.busyRetryMs ?? 20 };
    this.#routes.set(s.peer, new Route(s, opts, () => this.pump(s.peer)));
    // Whatever the old session had been sent before it was written goes into the mailbox now,
    // where this session's first reads find it (early-accepts.ts).
    o.mailbox.settle(s.peer);
    this.events.presence(s.peer, true, s.transport);
    const store = this.#o.mailbox.store;
    if (isSharedStore(store)) this.#claim(store, s);
    else this.pump(s.peer);
  }

  /**
   * Shared store: take the peer's route and load its mailbox, then send. A claim that fails
   * (Redis unreachable) ends the session: the client reconnects with backoff, to this node or
   * another, and nothing is lost (the notifications stay in the store).
   */
  #claim(store: SharedMailboxStore, s: PeerSession): void {
    const r = this.#routes.get(s.peer)!;
    r.loading = true;
    store.claim(s.peer, s.transport).then(
      () => {
        if (this.#routes.get(s.peer) !== r) return;
        r.loading = false;
        this.onClaimed(s.peer);
        this.pump(s.peer);
      },
      (err: unknown) => {
        if (this.#routes.get(s.peer) !== r) return;
        this.#o.logger.warn('mailbox claim failed; session closed', {
          peer: s.peer,
          err: String(err),
        });
        this.detach(s);
        s.close('NATPUSH_ERR_STORE_FAILED', 'the mailbox store is unreachable; reconnect later');
      },
    );
  }

  /** Another node took the peer over: its session here ends, as when a newer one replaces it. */
  #evicted(peer: string): void {
    const r = this.#routes.get(peer);
    if (!r) return;
    r.stop();
    this.#routes.delete(peer);
    this.events.presence(peer, false, undefined);
    r.session.close('NATPUSH_ERR_REPLACED', 'a newer connection of this peer took over');
  }

  /** The store has more for `peer` than it answered before (shared store refill): send it. */
  wake(peer: string): void {
    const r = this.#routes.get(peer);
    if (!r) return;
    r.caughtUp = false;
    r.dropAhead();
    this.pump(peer);
  }

  /** The session ended. Its in-flight notifications stay in the mailbox for next time. */
  detach(s: PeerSession): void {
    const r = this.#routes.get(s.peer);
    if (!r || r.session !== s) return;
    r.stop();
    this.#routes.delete(s.peer);
    this.events.presence(s.peer, false, undefined);
    // Sent early and unacked: written now rather than at `earlyAckMs` (early-accepts.ts).
    this.#o.mailbox.settle(s.peer);
    const store = this.#o.mailbox.store;
    if (isSharedStore(store)) store.release(s.peer);
  }

  /**
   * End-to-end ack from recipient `peer`, received over `via`. An ack may only name a
   * notification in flight to `peer` (issue 8, finding 2: acks of made-up ids used to be kept in
   * an unbounded table). In flight means sent on the current session and not yet acked, or sent
   * on an earlier session of the peer: delivery goes in mailbox order with at most `window`
   * unacked, so whatever an earlier session still had in flight is among the first `window`
   * pending notifications of the mailbox (an ack that arrives before the new session's pump,
   * a POST /v1/acks after the SSE stream dropped, a poll's `?ack=`). Anything else is dropped
   * and counted (`natpush_dropped_frames_total{reason="unknown_ack"}`), never stored.
   * Returns how many ids were taken.
   */
  ack(peer: string, ids: readonly string[], via: Transport, forward = true): number {
    const r = this.#routes.get(peer);
    if (!r && forward && this.onForeignAck && isSharedStore(this.#o.mailbox.store)) {
      // Cluster: the peer's session is on another node (an SSE client's POST /v1/acks that a
      // load balancer sent elsewhere): that node holds its in-flight map and applies the ack.
      this.onForeignAck(peer, ids, via);
      return 0;
    }
    // Ids are unique per (sender, recipient) only (issue 8, finding 9): the ack names the id,
    // the in-flight entry (or the oldest pending one) names the sender.
    const taken: AckRef[] = [];
    let unknown: string[] = [];
    const now = this.#o.clock.now();
    for (const id of new Set(ids)) {
      const f = r?.inflight.get(id);
      if (f && r?.inflight.delete(id)) {
        taken.push({ id, from: f.n.from, bytes: notificationBytes(f.n), seq: f.seq });
        const s = Math.max(0, now - f.n.ts) / 1000; // `ts`: accepted (ingest.ts)
        this.#o.metrics.deliveryLatency.observe({ path: via }, s);
      } else unknown.push(id);
    }
    // A live route that is not held up by a busy transport has re-sent the whole head at
    // attach, so its in-flight map is the full answer: a flood of made-up acks over a live
    // WebSocket costs no store read.
    const headSent = r !== undefined && r.busyTimer === undefined && !r.loading;
    if (unknown.length > 0 && !headSent && this.#o.mailbox.store.depth(peer) > 0) {
      const head = this.#o.mailbox.store.pending(peer, 0, this.#o.window, this.#o.clock.now());
      const from = new Map<string, StoredNotification>();
      for (const n of head) if (!from.has(n.id)) from.set(n.id, n);
      const before = taken.length;
      unknown = unknown.filter((id) => {
        const n = from.get(id);
        return !(n && taken.push({ id, from: n.from, seq: n.seq }));
      });
      // It may remove a row read ahead and not sent on this session: read again.
      if (taken.length > before) r?.dropAhead();
    }
    if (unknown.length > 0)
      this.#o.metrics.drops.inc({ reason: 'unknown_ack', type: 'ack' }, unknown.length);
    // The transport travels with the ack to what it removes (mailbox.ts `ack`): `delivered` and
    // natpush_notifications_out_total name it whether the notification was written or not.
    if (taken.length > 0) this.#o.mailbox.ack(peer, taken, via);
    if (r) this.pump(peer);
    return taken.length;
  }

  /** Sizes of every table, for the memory-bound tests and metrics. */
  get tableSizes(): { routes: number; inflight: number } {
    let inflight = 0;
    for (const r of this.#routes.values()) inflight += r.inflight.size;
    return { routes: this.#routes.size, inflight };
  }

  /** Fill the peer's window from the mailbox. */
  pump(peer: string): void {
    const r = this.#routes.get(peer);
    if (!r || r.busyTimer || r.loading) return;
    const room = r.room;
    // Caught up: the last read returned everything past the cursor and every commit since was
    // sent straight from `#onStored` (which clears `caughtUp` when it leaves anything behind), so
    // a read now would come back empty. Each ack pumps: this read was an SQLite query per
    // notification, the largest single cost of serve under load (bench/cluster-throughput).
    if (room <= 0 || r.caughtUp) return;
    // What an earlier read left (delivery-route.ts `#ahead`) goes first; a read only once that
    // is all sent and the window still has room.
    if (r.sendAhead() && (r.caughtUp || r.room <= 0 || r.busyTimer || r.aheadCount > 0)) return;
    const store = this.#o.mailbox.store;
    // A store in this process reads a whole window ahead, however little room the last ack
    // made: one read per window of a recipient that is behind instead of one per ack. A shared
    // store's local copy can be refilled below the cursor (`wake`): it reads what fits.
    const ahead = !isSharedStore(store);
    const limit = ahead ? Math.max(r.readLimit, this.#o.window) : r.readLimit;
    const batch = store.pending(peer, r.cursor, limit, this.#o.clock.now());
    r.sendRead(batch, batch.length < limit, ahead);
  }

  /** Fast path (early-accepts.ts): send a notification to its route before it is written. */
  #sendEarly(n: Notification): boolean {
    return this.#routes.get(n.to)?.sendEarly(n) ?? false;
  }

  /** Fast path: a caught-up route with room gets new notifications without a store read. */
  #onStored(stored: StoredNotification[]): void {
    const byPeer = new Map<string, StoredNotification[]>();
    for (const n of stored) {
      if (!this.#routes.has(n.to)) continue;
      let l = byPeer.get(n.to);
      if (!l) byPeer.set(n.to, (l = []));
      l.push(n);
    }
    // A store in this process keeps what the window does not take (delivery-route.ts
    // `#ahead`): no read back of what was just written. A shared store reads it back.
    const keep = !isSharedStore(this.#o.mailbox.store);
    for (const [peer, list] of byPeer) {
      const r = this.#routes.get(peer)!;
      // Sends what the window takes; anything left behind clears `caughtUp`.
      if (r.takeStored(list, keep)) this.pump(peer);
      else {
        // Something stays behind in the mailbox: later arrivals must not overtake it.
        r.caughtUp = false;
        this.pump(peer);
      }
    }
  }

  /** Close every session (shutdown). */
  closeAll(code: string, message: string): void {
    const store = this.#o.mailbox.store;
    for (const r of [...this.#routes.values()]) {
      r.stop();
      r.session.close(code, message);
      if (isSharedStore(store)) store.release(r.session.peer);
    }
    this.#routes.clear();
  }

  #onRemoved(removed: Removed[]): void {
    for (const x of removed) {
      // Every ack delivery.ts applies names its transport; 'websocket' only for a store's own.
      const via = x.via ?? 'websocket';
      this.#o.metrics.notificationsOut.inc({ transport: via });
      this.events.delivered(x, via);
    }
  }
}
