/**
 * A Peer's notifications on their way in, from every rung, each handed to the application once:
 * server `deliver` frames (opened: sealed to us by the peer the server names, sealed-body.ts) and
 * session notifications (already end-to-end). Dedupe is per (sender, id) across rungs. A copy that
 * came through the server is acked to it when the application takes the notification (acks
 * batched per event-loop turn); a session-delivered one was acked end to end by the channel.
 */
import { LIMITS } from '../signaling/constants.js';
import type { Identity } from '../signaling/identity.js';
import { isPeerId } from '../signaling/identity.js';
import type { Notification } from '../signaling/protocol.js';
import type { Notification as ChannelNotification } from '../session/reliable.js';
import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import { AsyncQueue } from './async-queue.js';
import { Dedupe } from './dedupe.js';
import type { LinkPath } from './peer-link.js';
import type { DeliveryPath, DropReason, ReceivedNotification } from './peer-types.js';
import { isSealedBody, openBody } from './sealed-body.js';

/**
 * Notifications received and not yet taken by the application. Server-routed ones are bounded
 * by the server's delivery window; session-delivered ones by this: above it the sessions stop
 * reading (their senders fall back to the server rung), so memory stays bounded and nothing is
 * acked that the application has not got room for.
 */
export const MAX_UNCONSUMED = 4_096;

export interface InboxOptions {
  identity: Identity;
  clock: Clock;
  logger: Logger;
  dedupeCapacity: number | undefined;
  /** The sender's key, learnt from a sealed body that opened (key-directory.ts). */
  learnKey: (peer: string, publicKey: string) => void;
  /** A peer we heard from becomes a contact (contacts.ts). */
  noteContact: (peer: string) => void;
  /** Send an `ack` frame; false when not connected (kept for the next welcome). */
  sendAck: (ids: string[]) => boolean;
  connected: () => boolean;
  /** Counters for the application (`peer.stats.dropped`). */
  dropped: Partial<Record<DropReason, number>>;
}

export class Inbox {
  readonly #o: InboxOptions;
  readonly #dedupe: Dedupe;
  readonly #queue = new AsyncQueue<ReceivedNotification>((n) => this.#taken(n));
  /**
   * Queued notifications of which the server delivered a copy (acked when consumed). Bounded by
   * the queue, which the server's delivery window bounds.
   */
  readonly #serverCopies = new Set<string>();
  #acks: string[] = [];
  #ackScheduled = false;
  /** Server time of the current connection's welcome: older notifications waited in the mailbox. */
  welcomeTime = Number.POSITIVE_INFINITY;

  constructor(o: InboxOptions) {
    this.#o = o;
    this.#dedupe = new Dedupe(o.dedupeCapacity);
  }

  /** The application is behind: sessions stop reading (see MAX_UNCONSUMED). */
  get full(): boolean {
    return this.#queue.length >= MAX_UNCONSUMED;
  }

  end(): void {
    this.#queue.end();
  }

  /**
   * Notifications for this peer, each exactly once, in order per sender. A notification is acked
   * to the server when the loop takes it. `signal` ends the loop (not the peer).
   *
   * An iterator over the queue, not an `async function*`: a generator's `await` and `yield` were
   * two more promise hops per notification on top of the queue's own (see #taken).
   */
  notifications(o: { signal?: AbortSignal } = {}): AsyncGenerator<ReceivedNotification> {
    let done = false;
    const end = (): IteratorReturnResult<undefined> => {
      done = true;
      return { value: undefined, done: true };
    };
    const it: AsyncGenerator<ReceivedNotification> = {
      next: () => {
        // After return(): done, as a generator's. An ended queue or an aborted `signal` answers
        // done itself, then and on every later call.
        if (done) return Promise.resolve(end());
        return this.#queue.next(o.signal);
      },
      return: (value?: unknown) => {
        end();
        return Promise.resolve({ value, done: true });
      },
      throw: (err: unknown) => {
        end();
        return Promise.reject(err instanceof Error ? err : new Error(String(err)));
      },
      [Symbol.asyncIterator]: () => it,
    };
    return it;
  }

  /** A notification leaves the queue for the application: consumed; acked if a server copy. */
  #taken(n: ReceivedNotification): void {
    this.#dedupe.consumed(n.from, n.id);
    // Acked to the server only if a copy came through it (a session-delivered one was acked
    // end to end by the channel already). No key is built while none came that way.
    if (this.#serverCopies.size > 0 && this.#serverCopies.delete(dedupeKey(n.from, n.id)))
      this.#ack(n.id);
  }

  /** A notification over an end-to-end session. */
  fromSession(from: string, n: ChannelNotification, path: LinkPath): void {
    if (this.#dedupe.check(from, n.id)) return this.#duplicate(); // here by another rung
    this.#o.noteContact(from);
    const ts = this.#o.clock.now();
    this.#queue.push({
      id: n.id,
      from,
      to: this.#o.identity.peerId,
      topic: n.topic ?? '',
      body: n.body,
      ts,
      expires: ts + LIMITS.defaultTtlSeconds * 1000,
      path: linkDeliveryPath(path),
    });
  }

  /** A server `deliver` frame. */
  fromServer(n: Notification): void {
    if (n.to !== this.#o.identity.peerId) return;
    const opened = this.#openDelivery(n);
    if (!opened) return this.#ack(n.id); // dropped for good: stop the server redelivering it
    const key = dedupeKey(n.from, n.id);
    const seen = this.#dedupe.check(n.from, n.id);
    if (seen === 'consumed') this.#ack(n.id);
    if (seen === 'queued') this.#serverCopies.add(key);
    if (seen) return this.#duplicate();
    this.#serverCopies.add(key);
    // The server stamps `ts` when it accepts a notification: one accepted before this
    // connection's welcome waited in the mailbox for us.
    this.#queue.push({ ...opened, path: n.ts < this.welcomeTime ? 'mailbox' : 'server-routed' });
  }

  /**
   * A peer's notification must be sealed to us by the peer the server names as `from`, with the
   * id the server routed (sealed-body.ts); anything else is dropped, counted and logged. An
   * app server's (HTTP API, `from` = `app:…`, never a peer id) passes as it is.
   */
  #openDelivery(n: Notification): Notification | undefined {
    if (!isPeerId(n.from)) return n;
    if (!isSealedBody(n.body)) return this.#drop('unsealed', n);
    let o: ReturnType<typeof openBody>;
    try {
      o = openBody(this.#o.identity, n.body);
    } catch (err) {
      return this.#drop('unopenable', n, err);
    }
    if (o.senderPeerId !== n.from) return this.#drop('forged-sender', n);
    if (o.id !== n.id) return this.#drop('swapped-id', n);
    this.#o.learnKey(n.from, o.senderPublicKey);
    this.#o.noteContact(n.from);
    return { ...n, topic: o.topic ?? '', body: o.body };
  }

  #duplicate(): void {
    this.#o.dropped.duplicate = (this.#o.dropped.duplicate ?? 0) + 1;
  }

  #drop(reason: DropReason, n: Notification, err?: unknown): undefined {
    this.#o.dropped[reason] = (this.#o.dropped[reason] ?? 0) + 1;
    this.#o.logger.warn('dropped a notification that does not open', {
      reason,
      from: n.from,
      id: n.id,
      ...(err ? { err: String(err) } : {}),
    });
    return undefined;
  }

  /** Acks are batched per event-loop turn into one frame of up to LIMITS.maxAckIds ids. */
  #ack(id: string): void {
    this.#acks.push(id);
    if (this.#ackScheduled) return;
    this.#ackScheduled = true;
    setImmediate(() => {
      this.#ackScheduled = false;
      this.flushAcks();
    });
  }

  flushAcks(): void {
    while (this.#acks.length > 0 && this.#o.connected()) {
      const ids = this.#acks.slice(0, LIMITS.maxAckIds);
      if (!this.#o.sendAck(ids)) return;
      this.#acks = this.#acks.slice(ids.length);
    }
    // Not connected: keep them; they are sent after the next welcome (and the server will have
    // redelivered them meanwhile, which the dedupe answers with an ack too).
    if (this.#acks.length > LIMITS.maxAckIds * 16)
      this.#acks = this.#acks.slice(-LIMITS.maxAckIds * 16);
  }
}

/** (sender, id) as one key for `#serverCopies` (the Dedupe keys the same pair its own way). */
function dedupeKey(from: string, id: string): string {
  return `${from} ${id}`;
}

export function linkDeliveryPath(p: LinkPath): DeliveryPath {
  return p === 'server' ? 'server-routed' : p;
}
