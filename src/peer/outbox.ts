/**
 * A Peer's notifications on their way out: each `notify()` waits here until its outcome — acked
 * over a session path (`direct` / `relay`), acked through the server (`server-routed`), stored
 * (`mailbox`), or an error. The server's two answers settle it: `accepted` (durably stored; the
 * recipient's presence) then `delivered` (the recipient's end-to-end ack), which can overtake
 * `accepted` since the ack path needs no fsync. Also tracks the last path per recipient, for the
 * Peer's `path` events.
 * Backpressure: a session channel that is full (its queue bound) is not a dead path — what does
 * not fit waits here in notify order for room (bounded: MAX_WAITING, then BACKPRESSURE), still
 * honouring its signal and timeoutMs; only a path that stops carrying sends it to the server.
 */
import { randomBytes } from 'node:crypto';
import { LIMITS } from '../signaling/constants.js';
import { isPeerId } from '../signaling/identity.js';
import { SignalingError, SignalingErrorCode } from '../signaling/errors.js';
import { SessionError, SessionErrorCode } from '../session/errors.js';
import { MAX_SEALED_PLAINTEXT } from '../session/sealed.js';
import type { ClientMessage, SeenTransport, ServerMessage } from '../signaling/protocol.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import { linkDeliveryPath } from './inbox.js';
import type { LinkTable } from './link-table.js';
import { CHANNEL_ROOM, ChannelRoom, MAX_WAITING, type Lane } from './outbox-room.js';
import type { OutboxOptions, PendingNotify } from './outbox-types.js';
import type { DeliveryPath, NotifyOptions, NotifyResult } from './peer-types.js';
import { maxSealedBodyBytes, sealBody } from './sealed-body.js';

/**
 * `delivered` frames remembered for a notification not yet `accepted` (they overtake it only
 * within a round trip): a bound for a server that sends ids it never accepts.
 */
const MAX_EARLY_DELIVERED = 4096;
/**
 * Recipients whose last `path` event is remembered (to tell only changes): a device's working
 * set is far smaller (the session links hold 256); beyond it the oldest is forgotten, which
 * costs at most one repeated event for it.
 */
const MAX_PATHS = 4096;
export type { OutboxOptions, PendingNotify } from './outbox-types.js';

export class Outbox {
  readonly #d: OutboxOptions;
  readonly #clock: Clock;
  readonly #onPath: (e: { peer: string; path: DeliveryPath; reason?: string }) => void;
  readonly #pending = new Map<string, PendingNotify>();
  readonly #byId = new Map<string, PendingNotify>();
  readonly #paths = new Map<string, DeliveryPath>();
  /** `delivered` can overtake `accepted` (the ack path needs no fsync); remember it briefly. */
  readonly #earlyDelivered = new Map<string, SeenTransport>();
  /**
   * Default notification ids: a random prefix per Peer (72 bits: unique across restarts, which
   * receivers' (sender, id) dedupe needs) and a counter — ≤ 21 characters, as short as the 22 of
   * a random 16-byte id, at a fraction of the cost (randomBytes was ~8 µs per notify in a flood
   * profile). Refs only key our own pending tables, so a counter is enough.
   */
  readonly #idPrefix = randomBytes(9).toString('base64url');
  #idCounter = 0;
  #seq = 0;
  /** Room in the recipients' session channels, and what waits for it (outbox-room.ts). */
  readonly #room = new ChannelRoom<PendingNotify>();
  /** The last recipient whose id passed isPeerId. */
  #checkedTo = '';

  constructor(o: OutboxOptions) {
    this.#d = o;
    this.#clock = o.clock;
    this.#onPath = o.onPath;
  }

  /** `Peer.notify`: checked, then pending until an outcome, sent on the best rung there is. */
  notify(to: string, body: string, o: NotifyOptions, closed: boolean): Promise<NotifyResult> {
    // A flood names one recipient: its id's regex check (~0.6 % of a sender's CPU in a 100-byte
    // direct flood's profile) is done once per change of recipient.
    if (to !== this.#checkedTo) {
      if (!isPeerId(to)) throw new TypeError(`not a peer id: ${to}`);
      this.#checkedTo = to;
    }
    if (typeof body !== 'string') throw new TypeError('body must be a string');
    const id = o.id ?? `${this.#idPrefix}.${(this.#idCounter++).toString(36)}`;
    // UTF-8 takes at most 3 bytes per UTF-16 code unit: a body that fits at 3 bytes a unit,
    // with the id and topic at 3 too, fits as it is — the two scans (byteLength) are for the
    // rest. Anything unusual (not strings) gives NaN here, and the exact check.
    const worst =
      3 * (body.length + (id as string).length + (o.topic ? (o.topic as string).length : 0)) + 4;
    if (!(worst <= LIMITS.maxBodyBytes && worst <= MAX_SEALED_PLAINTEXT)) {
      const maxBody = Math.min(LIMITS.maxBodyBytes, maxSealedBodyBytes(id, o.topic));
      if (Buffer.byteLength(body) > maxBody)
        throw new RangeError(`body larger than ${maxBody} bytes`);
    }
    if (closed)
      return Promise.reject(
        new SignalingError(SignalingErrorCode.CONNECTION_CLOSED, 'peer is closed'),
      );
    if (o.signal?.aborted)
      return Promise.reject(new SignalingError(SignalingErrorCode.ABORTED, 'aborted'));
    const ref = this.#d.nextRef();
    if (o.timeoutMs !== undefined && !(o.timeoutMs > 0))
      throw new RangeError(`timeoutMs must be > 0, got ${o.timeoutMs}`);
    return new Promise<NotifyResult>((resolve, reject) => {
      const p: PendingNotify = {
        ref,
        id,
        to,
        topic: o.topic,
        body,
        ttl: o.ttl,
        started: this.#clock.now(),
        seq: this.#seq++,
        deliveryTimeoutMs: o.deliveryTimeoutMs ?? 5_000,
        resolve,
        reject,
        acceptTimer: undefined,
        signal: o.signal,
        onAbort: undefined,
      };
      if (o.timeoutMs !== undefined) p.acceptTimer = this.#acceptTimer(p, o.timeoutMs);
      if (o.signal) {
        p.onAbort = () => this.settle(p, new SignalingError(SignalingErrorCode.ABORTED, 'aborted'));
        o.signal.addEventListener('abort', p.onAbort, { once: true });
      }
      this.add(p);
      this.#d.noteContact(to);
      this.#dispatch(p);
    });
  }

  /** `timeoutMs`: the server (or room in the session channel) must take `p` within it. */
  #acceptTimer(p: PendingNotify, timeoutMs: number): TimerHandle {
    return this.#clock.setTimeout(() => {
      if (p.accepted) return;
      this.settle(
        p,
        new SignalingError(
          SignalingErrorCode.REQUEST_TIMEOUT,
          p.lane
            ? `no room in the session channel to ${p.to} for ${p.id} in ${timeoutMs} ms`
            : `the server did not accept ${p.id} in ${timeoutMs} ms`,
        ),
      );
    }, timeoutMs);
  }

  /**
   * Send on the best rung that exists now. Server rungs: seal to the recipient's verified key
   * (fetched once with `key-request`, cached) and send a `notify` whose body only the recipient
   * can open; resent unchanged (same id) after a reconnect.
   */
  #dispatch(p: PendingNotify): void {
    const link = this.#d.direct ? this.#d.links().linkFor(p.to, true) : undefined;
    if (link?.carries) {
      // Rungs 1-2: the end-to-end session over a UDP path. A full channel is not a dead path:
      // the notification waits here for room (backpressure), in order behind any waiting.
      const lane = this.#room.lane(p.to);
      if (this.#room.hasRoom(lane)) return this.#onChannel(p, link, lane);
      if (this.#room.full) {
        this.#room.drop(p.to, lane);
        return this.settle(
          p,
          new SessionError(
            SessionErrorCode.BACKPRESSURE,
            `${MAX_WAITING} notifications already wait for room in session channels`,
          ),
        );
      }
      this.#room.wait(p, lane);
      return;
    }
    if (link) void link.start().catch(() => {}); // upgrade in the background
    void this.#viaServer(p);
  }

  /**
   * Hand `p` to the link's reliable channel; its ack settles it with the link's path. A callback
   * (PeerLink.post), not the channel's promise: that promise, its resolving functions and the
   * reaction here were garbage per notification, and a hop before the next waiting one goes.
   */
  #onChannel(
    p: PendingNotify,
    link: NonNullable<ReturnType<LinkTable['get']>>,
    lane: Lane<PendingNotify>,
  ): void {
    lane.inChannel++;
    const done = (err?: Error): void => {
      lane.inChannel--;
      if (err === undefined) this.settle(p, linkDeliveryPath(link.path));
      else if (this.isPending(p)) {
        // Refused for room we did not count (a send that timed out stays in the channel's
        // queue until it is sent): wait again while our others there make room.
        if (
          err instanceof SessionError &&
          err.code === SessionErrorCode.BACKPRESSURE &&
          lane.inChannel > 0 &&
          link.carries
        )
          this.#room.wait(p, lane);
        else {
          // The path died before the ack (the send timed out, the link closed): the same id
          // goes down to the sealed server rung; the receiver dedupes by (sender, id)
          // whichever copies arrive.
          this.#d.logger.debug('session send failed, falling back to the server', {
            peer: p.to,
            id: p.id,
            err: String(err),
          });
          void this.#viaServer(p);
        }
      }
      this.#pump(p.to, lane);
    };
    try {
      // `p` itself is the notification (its id, topic, body): the channel copies those three
      // fields into its own record (out-message.ts), so no object of its own per notification.
      link.post(p, p.deliveryTimeoutMs > 0 ? p.deliveryTimeoutMs : 5_000, done);
    } catch (err) {
      // Refused outright (an id the channel does not take): as a failed send, after this call.
      const e = err instanceof Error ? err : new Error(String(err));
      queueMicrotask(() => done(e));
    }
  }

  /**
   * Room in `peer`'s channel (one of ours there settled), or its path changed: hand the waiting
   * over in order. A link that no longer carries (its path died, it was closed) sends them all
   * down to the sealed server rung — each once: it leaves `waiting` as it goes.
   */
  #pump(peer: string, lane: Lane<PendingNotify>): void {
    if (lane.waiting.length > 0) {
      const link = this.#d.direct ? this.#d.links().get(peer) : undefined;
      if (!link?.carries) {
        for (const p of [...lane.waiting]) {
          this.#room.unwait(p);
          void this.#viaServer(p);
        }
      } else
        while (lane.waiting.length > 0 && lane.inChannel < CHANNEL_ROOM) {
          const p = lane.waiting[0]!;
          this.#room.unwait(p);
          this.#onChannel(p, link, lane);
        }
    }
    this.#room.drop(peer, lane);
  }

  /** The sealed server rungs (server-routed, mailbox). */
  async #viaServer(p: PendingNotify): Promise<void> {
    let key: string;
    try {
      key = await this.#d.remoteKey(p.to);
    } catch (err) {
      return this.settle(p, err instanceof Error ? err : new Error(String(err)));
    }
    if (!this.isPending(p)) return; // settled meanwhile (abort, close, timeout)
    let body: string;
    try {
      body = sealBody(this.#d.identity, key, {
        id: p.id,
        ...(p.topic ? { topic: p.topic } : {}),
        body: p.body,
      });
    } catch (err) {
      return this.settle(p, err instanceof Error ? err : new Error(String(err)));
    }
    // A `delivered` names the id only: the server's answers find it by id from now on (a
    // session send never gets one, so the direct path skips this map).
    this.#byId.set(p.id, p);
    p.frame = {
      type: 'notify',
      ref: p.ref,
      id: p.id,
      to: p.to,
      body,
      ...(p.ttl !== undefined ? { ttl: p.ttl } : {}),
    };
    this.#d.sendFrame(p.frame);
  }

  /** Pending by ref; by id too once it goes to the server (its `delivered` names the id). */
  add(p: PendingNotify): void {
    this.#pending.set(p.ref, p);
  }

  /** Still waiting (not settled by an answer, an abort, a timeout or close). */
  isPending(p: PendingNotify): boolean {
    return this.#pending.get(p.ref) === p;
  }

  /** Sealed frames the server has not accepted yet (resent after a reconnect). */
  unacceptedFrames(): Extract<ClientMessage, { type: 'notify' }>[] {
    const out: Extract<ClientMessage, { type: 'notify' }>[] = [];
    for (const p of this.#pending.values()) if (!p.accepted && p.frame) out.push(p.frame);
    return out;
  }

  /** An `error` frame for the notify with this ref: true if there was one. */
  fail(ref: string, e: Error): boolean {
    const p = this.#pending.get(ref);
    if (p) this.settle(p, e);
    return p !== undefined;
  }

  failAll(e: Error): void {
    for (const p of [...this.#pending.values()]) this.settle(p, e);
  }

  accepted(m: Extract<ServerMessage, { type: 'accepted' }>): void {
    const p = this.#pending.get(m.ref);
    if (!p || p.accepted) return;
    p.accepted = { online: m.online, duplicate: m.duplicate };
    const early = this.#earlyDelivered.get(m.id);
    if (early) {
      this.#earlyDelivered.delete(m.id);
      return this.settle(p, 'server-routed', early);
    }
    if (!m.online || p.deliveryTimeoutMs <= 0) return this.settle(p, 'mailbox');
    p.timer = this.#clock.setTimeout(() => this.settle(p, 'mailbox'), p.deliveryTimeoutMs);
  }

  delivered(m: Extract<ServerMessage, { type: 'delivered' }>): void {
    const p = this.#byId.get(m.id);
    if (!p) return;
    if (p.accepted) return this.settle(p, 'server-routed', m.via);
    this.#earlyDelivered.set(m.id, m.via);
    if (this.#earlyDelivered.size > MAX_EARLY_DELIVERED)
      this.#earlyDelivered.delete(this.#earlyDelivered.keys().next().value!);
  }

  settle(p: PendingNotify, outcome: DeliveryPath | Error, via?: SeenTransport): void {
    if (this.#pending.get(p.ref) !== p) return;
    this.#pending.delete(p.ref);
    // Both maps are empty on the direct path (server answers only): no id is hashed there.
    if (this.#byId.size > 0 && this.#byId.get(p.id) === p) this.#byId.delete(p.id);
    if (this.#earlyDelivered.size > 0) this.#earlyDelivered.delete(p.id);
    if (p.lane) {
      const lane = p.lane;
      this.#room.unwait(p); // aborted or timed out while it waited: never sent
      this.#room.drop(p.to, lane);
    }
    p.timer?.cancel();
    p.acceptTimer?.cancel();
    if (p.onAbort) p.signal!.removeEventListener('abort', p.onAbort);
    if (outcome instanceof Error) return p.reject(outcome);
    const r: NotifyResult = {
      id: p.id,
      to: p.to,
      path: outcome,
      status: outcome === 'mailbox' ? 'stored' : 'delivered',
      ...(via ? { via } : {}),
      duplicate: p.accepted?.duplicate ?? false,
      elapsedMs: this.#clock.now() - p.started,
    };
    // The same path as told (the steady state): nothing to check.
    if (this.#paths.get(r.to) !== r.path && !this.#staleForPath(r.to, r.path))
      this.path({ peer: r.to, path: r.path });
    p.resolve(r);
  }

  /**
   * The Peer's one `path` event stream, from the session ladder (the link moving up or down)
   * and from notify results: told only when it changes, so the two sources never flap it.
   */
  path(e: { peer: string; path: DeliveryPath; reason?: string }): void {
    // The session path went down: what waits for its channel goes to the server now.
    const lane = this.#room.get(e.peer);
    if (lane && (e.path === 'server-routed' || e.path === 'mailbox')) this.#pump(e.peer, lane);
    if (this.#paths.get(e.peer) === e.path) return;
    this.#paths.delete(e.peer);
    this.#paths.set(e.peer, e.path);
    if (this.#paths.size > MAX_PATHS) this.#paths.delete(this.#paths.keys().next().value!);
    this.#onPath(e);
  }

  /**
   * A result that contradicts the session link as it is now says nothing about the path now: a
   * notification sent through the server just before the link began to carry, settled after it
   * did (the burst of the moment, `server-routed` after `direct`), or one acked on a path that
   * died since. The link's own events tell those moves.
   */
  #staleForPath(peer: string, path: DeliveryPath): boolean {
    const link = this.#d.direct ? this.#d.links().get(peer) : undefined;
    if (!link) return false;
    return link.carries
      ? path !== linkDeliveryPath(link.path)
      : path === 'direct' || path === 'relay';
  }
}
