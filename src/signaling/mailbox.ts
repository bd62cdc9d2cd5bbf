/**
 * Group commit in front of the store. Notifications accepted during one event-loop turn are
 * written in one transaction — one fsync — and only then answered (`accept` resolves), so
 * "accepted" always means "on disk" while throughput is bounded by fsyncs per second times batch
 * size rather than by fsyncs per notification. Acks are applied the same way. Delivery to the
 * recipient starts at the commit, while the fsync runs (see #flushLocal for why that is safe).
 *
 * A shared store (Redis, store/redis-store.ts) takes the same batch in one asynchronous commit —
 * one round trip — and answers for each notification itself (dedupe and quotas must be decided
 * where every node's notifications meet, not in one node's memory).
 */
import type { Clock, TimerHandle } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import { SignalingError, SignalingErrorCode } from './errors.js';
import {
  isSharedStore,
  type AnyMailboxStore,
  type CommitResult,
  type MailboxStore,
  type NewNotification,
  type Removed,
  type SharedMailboxStore,
  type StoredNotification,
} from './store/store.js';
import { storeFailure } from './store/failure.js';
import { STORE_RECOVERY } from './constants.js';

export interface MailboxOptions<S extends AnyMailboxStore = AnyMailboxStore> {
  store: S;
  clock: Clock;
  logger: Logger;
  /** Per-recipient quota (LIMITS.mailboxQuota). */
  quota: number;
  /** Longest a batch waits for company (TIMING.groupCommitMaxDelayMs). */
  maxDelayMs: number;
}

import {
  insertChecked,
  type AcceptResult,
  type AckRef,
  type PendingAccept,
  type PendingAck,
  type PendingPeer,
} from './mailbox-batch.js';

export type { AcceptResult, AckRef } from './mailbox-batch.js';

export class Mailbox<S extends AnyMailboxStore = AnyMailboxStore> {
  readonly #o: MailboxOptions<S>;
  #accepts: PendingAccept[] = [];
  #acks: PendingAck[] = [];
  #peers: PendingPeer[] = [];
  readonly #known = new Set<string>();
  /**
   * Registrations not yet durable, by peer: a second `register` of the same peer meanwhile waits
   * for the same commit. Bound: peers registering at once (one per authenticating connection),
   * each entry lives one group commit.
   */
  readonly #registering = new Map<string, Promise<void>>();
  readonly #lookups = new Map<string, Promise<boolean>>();
  #timer: TimerHandle | undefined;
  #retryTimer: TimerHandle | undefined;
  #closed = false;
  /** Store failures since start, by kind (logged each time; exported as a metric). */
  readonly failures = { commit: 0, sync: 0, checkpoint: 0 };
  #lastSync: Promise<void> = Promise.resolve();
  /**
   * A local store's fsync is running. Scheduled commits of notifications and registrations wait
   * for it and then go as one transaction: they could only be made durable by the next fsync
   * anyway, and one transaction rewrites each hot page (the table's and every index's last
   * leaf) once instead of once per event-loop turn. Acks, which need no fsync, still commit at
   * once (`delivered` must not wait for a disk that takes 10–80 ms under load).
   */
  #syncing = false;
  /** `delivered`s held while an fsync runs (#removedReady). */
  #heldRemoved: Removed[] = [];
  /** Called after each commit with the acks that removed something. */
  onRemoved: (r: Removed[]) => void = () => {};
  /** Called after each commit with the notifications it newly stored, in seq order. */
  onStored: (stored: StoredNotification[]) => void = () => {};

  constructor(o: MailboxOptions<S>) {
    this.#o = o;
    const store: AnyMailboxStore = o.store;
    // A shared store knows every node's peers itself (and they are too many to copy here).
    if (!isSharedStore(store)) for (const p of store.knownPeers()) this.#known.add(p);
    else store.onArrived = (stored) => this.onStored(stored);
    o.store.onBackgroundError = (what, err) => {
      this.failures[what]++;
      o.logger.error(`mailbox store ${what} failed`, { err, failures: this.failures[what] });
    };
  }

  get store(): S {
    return this.#o.store;
  }

  isKnown(peer: string): boolean {
    const store: AnyMailboxStore = this.#o.store;
    return this.#known.has(peer) || (isSharedStore(store) && store.isKnown(peer));
  }

  /**
   * `isKnown`, and for a shared store not yet told of the registration (it registered with
   * another node a moment ago), the store's own answer. While such a lookup is in flight every
   * later check of the same peer waits for it too, so that notifications to it are accepted in
   * the order they came (per-sender order) even once the registration broadcast arrived.
   * Bound of the lookups: peers being checked at once (each entry lives one round trip).
   */
  checkKnown(peer: string): boolean | Promise<boolean> {
    const inFlight = this.#lookups.get(peer);
    if (inFlight) return inFlight;
    if (this.isKnown(peer)) return true;
    const store: AnyMailboxStore = this.#o.store;
    if (!isSharedStore(store)) return false;
    const p = store.lookupPeer(peer).finally(() => this.#lookups.delete(peer));
    this.#lookups.set(peer, p);
    return p;
  }

  get knownCount(): number {
    const store: AnyMailboxStore = this.#o.store;
    return isSharedStore(store) ? store.knownCount : this.#known.size;
  }

  /**
   * Remember a registered peer: written with the next batch (a shared store: at once).
   * `registration(peer)` says when that is durable. Re-registering a known peer is harmless.
   */
  register(peer: string, publicKey: string): void {
    if (this.#known.has(peer) || this.#closed) return;
    this.#known.add(peer);
    const store: AnyMailboxStore = this.#o.store;
    const p = isSharedStore(store)
      ? store.registerNow(peer, publicKey)
      : new Promise<void>((resolve, reject) => {
          this.#peers.push({ peer, publicKey, done: { resolve, reject } });
          this.#schedule();
        });
    const tracked = p.finally(() => this.#registering.delete(peer));
    // A failure is the waiter's to handle (or logged by the store): never an unhandled rejection.
    tracked.catch(() => {});
    this.#registering.set(peer, tracked);
  }

  /**
   * Resolves once `peer`'s registration is durable: committed (and, for SQLite, fsynced) with its
   * batch, or written to the shared store. The server says `welcome` only then, so a welcomed
   * peer is known to every node and after any restart: a notification sent to it the moment it
   * logs in is never refused UNKNOWN_PEER (round 2: `welcome` went out before the commit).
   * A local store that fails the commit resolves it all the same (the write is retried, see
   * #commitFailed); a shared store's failed write rejects (the peer is unknown to the other
   * nodes, so its connection is refused and it logs in again).
   */
  registration(peer: string): Promise<void> {
    return this.#registering.get(peer) ?? Promise.resolve();
  }

  /**
   * Store `n` durably; resolves after the commit. The same (from, to, id) again is a duplicate
   * (resolved, `duplicate: true`), whoever else used the id. Rejects MAILBOX_FULL (recipient's
   * mailbox, or its peer share, is full), SENDER_QUOTA, STORE_QUOTA (store/usage.ts).
   */
  accept(n: NewNotification): Promise<AcceptResult> {
    if (this.#closed) {
      return Promise.reject(
        new SignalingError(SignalingErrorCode.SHUTTING_DOWN, 'server is shutting down'),
      );
    }
    return new Promise((resolve, reject) => {
      this.#accepts.push({ n, resolve, reject });
      this.#schedule();
    });
  }

  /** Apply an end-to-end ack (fire and forget: a lost ack only means a redelivery, deduped). */
  ack(to: string, ids: readonly (string | AckRef)[]): void {
    for (const a of ids)
      this.#acks.push(
        typeof a === 'string'
          ? { to, id: a, from: undefined }
          : { to, id: a.id, from: a.from, bytes: a.bytes },
      );
    this.#schedule();
  }

  /** Commit whatever is queued now (shutdown, tests). */
  flush(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    const accepts = this.#accepts;
    const acks = this.#acks;
    const peers = this.#peers;
    if (accepts.length + acks.length + peers.length === 0) return;
    this.#accepts = [];
    this.#acks = [];
    this.#peers = [];
    const store: AnyMailboxStore = this.#o.store;
    if (isSharedStore(store)) return this.#flushShared(store, accepts, acks, peers);
    this.#flushLocal(store, accepts, acks, peers);
  }

  #flushLocal(
    store: MailboxStore,
    accepts: PendingAccept[],
    acks: PendingAck[],
    peers: PendingPeer[],
  ): void {
    const now = this.#o.clock.now();
    const results: (AcceptResult | SignalingError)[] = [];
    const removed: Removed[] = [];
    const stored: StoredNotification[] = [];
    try {
      store.transaction(() => {
        for (const p of peers) store.addPeer(p.peer, p.publicKey, now);
        for (const a of accepts) results.push(insertChecked(store, a.n, this.#o.quota, stored));
        for (const k of acks) {
          const r = store.remove(k.to, k.id, k.from, k.bytes);
          if (r) removed.push(r);
        }
      });
    } catch (err) {
      // The store rolled the whole batch back, its counts included (store.ts transaction).
      this.#commitFailed(err, accepts, acks, peers);
      return;
    }
    // An applied ack needs no fsync: if it is lost, the notification is delivered again and the
    // receiver's dedupe answers it. So the sender hears `delivered` without waiting for one —
    // unless the notification's own fsync may still run (#removedReady).
    if (removed.length > 0) this.#removedReady(removed);
    // Delivery starts at the commit, beside the fsync rather than after it: the fsync (2–3 ms
    // on a quiet disk, 10–80 ms on this shared one) is then on the path of `accepted` only, not
    // of the notification to the recipient. Nothing promised is weakened: `accepted` (the 202)
    // still waits for stable storage; a notification delivered and then lost to a power cut
    // before its fsync was never accepted, so the sender sends it again and the receiver's
    // dedupe drops the copy — the same as a redelivery after a lost ack. (A pump already read
    // rows committed but not yet synced.)
    if (stored.length > 0) this.onStored(stored);
    const done = () => {
      for (const p of peers) p.done?.resolve();
      accepts.forEach((a, i) => {
        const r = results[i];
        if (r instanceof SignalingError || r === undefined) a.reject(r);
        else a.resolve(r);
      });
    };
    // Only what someone waits for needs the fsync: an ack-only batch is answered now.
    const sync = accepts.length + peers.length > 0 ? store.sync?.() : undefined;
    if (!sync) return done();
    this.#syncing = true;
    const synced = () => {
      this.#syncing = false;
      this.#releaseRemoved();
      // What arrived during the fsync waited for it (#schedule): commit it now.
      if (this.#accepts.length + this.#acks.length + this.#peers.length > 0) this.#schedule();
    };
    // Answer only once the commit is on stable storage (see sqlite-store.ts).
    this.#lastSync = sync.then(
      () => {
        done();
        synced();
      },
      (err: unknown) => {
        // Committed but maybe not on stable storage: refuse, and the sender's retry of the same
        // id is answered as a duplicate if the commit did survive.
        const e = storeFailure(err, 'mailbox fsync failed');
        this.failures.sync++;
        this.#o.logger.error('mailbox fsync failed', { code: e.code, err: String(err) });
        for (const a of accepts) a.reject(e);
        // Committed, so known after a restart unless the disk lost it: welcomed as before.
        for (const p of peers) p.done?.resolve();
        synced();
      },
    );
  }

  /**
   * Acks applied. While an fsync runs, the notifications they remove may be the ones it is
   * making durable (delivered at their commit, see #flushLocal): their `delivered` is held until
   * it ends, so a sender never hears `delivered` before `accepted`. Bound: acks applied during
   * one fsync (each names a notification in flight, ≤ deliveryWindow per online peer).
   */
  #removedReady(removed: Removed[]): void {
    if (!this.#syncing) return this.onRemoved(removed);
    for (const r of removed) this.#heldRemoved.push(r);
  }

  /**
   * The fsync ended: release the held `delivered`s. On the next tick, so that the `accepted`
   * frames its accepts resolved (a few promise hops away) are written first.
   */
  #releaseRemoved(): void {
    if (this.#heldRemoved.length === 0) return;
    const held = this.#heldRemoved;
    this.#heldRemoved = [];
    process.nextTick(() => this.onRemoved(held));
  }

  /**
   * The whole batch in one commit of the shared store. Commits are issued in order on one
   * connection and answered in order, so seq order (= per-sender order) is issue order, and a
   * later batch's `onStored` never overtakes an earlier one's. The accepts are answered only
   * once the store said the batch is durable (redis-store.ts states what that means).
   */
  #flushShared(
    store: SharedMailboxStore,
    accepts: PendingAccept[],
    acks: PendingAck[],
    peers: PendingPeer[],
  ): void {
    const commit = store.commit({
      now: this.#o.clock.now(),
      mailboxQuota: this.#o.quota,
      peers,
      accepts: accepts.map((a) => a.n),
      acks,
    });
    this.#lastSync = commit.then(
      (r: CommitResult) => {
        if (r.removed.length > 0) this.onRemoved(r.removed);
        accepts.forEach((a, i) => {
          const o = r.outcomes[i];
          if (!o) a.reject(storeFailure(new Error('no outcome'), 'mailbox write failed'));
          else if (o.kind === 'refused') a.reject(new SignalingError(o.code, o.message));
          else a.resolve({ seq: o.seq, duplicate: o.kind === 'duplicate', online: o.online });
        });
        if (r.stored.length > 0) this.onStored(r.stored);
      },
      (err: unknown) => this.#commitFailed(err, accepts, acks, peers),
    );
  }

  /**
   * A batch failed to commit. Its notifications are refused with the store's code (nothing of
   * them was stored; the sender retries); its registrations and acks, which nobody waits for,
   * go back to the front of the queue and the commit is retried (issue 8, finding 11: they were
   * dropped, and a peer registered during the failure was unknown after the next restart).
   */
  #commitFailed(
    err: unknown,
    accepts: PendingAccept[],
    acks: PendingAck[],
    peers: PendingPeer[],
  ): void {
    const e = storeFailure(err, 'mailbox write failed');
    this.failures.commit++;
    this.#o.logger.error('mailbox commit failed, batch rolled back', {
      code: e.code,
      err: String(err),
      refused: accepts.length,
      retrying: { registrations: peers.length, acks: acks.length },
    });
    for (const a of accepts) a.reject(e);
    // The registration is retried below until the store takes it (findings 5 and 11:
    // test/security/store-failure.test.ts registers a peer on a full disk). Its connection is
    // welcomed now, as every one was before the welcome waited: this process knows the peer,
    // and refusing it would only make it retry into the same full disk.
    for (const p of peers) p.done?.resolve();
    this.#peers = peers.map((p) => ({ peer: p.peer, publicKey: p.publicKey })).concat(this.#peers);
    this.#acks = acks.concat(this.#acks);
    if (this.#acks.length > STORE_RECOVERY.maxRetriedAcks)
      this.#acks = this.#acks.slice(-STORE_RECOVERY.maxRetriedAcks);
    if (this.#retryTimer || this.#closed || this.#peers.length + this.#acks.length === 0) return;
    this.#retryTimer = this.#o.clock.setTimeout(() => {
      this.#retryTimer = undefined;
      if (!this.#closed) this.flush();
    }, STORE_RECOVERY.retryMs);
  }

  /** Commit and sync what is queued, then refuse new work. */
  async close(): Promise<void> {
    this.#retryTimer?.cancel();
    this.#retryTimer = undefined;
    this.flush();
    this.#closed = true;
    if (this.#peers.length + this.#acks.length > 0) {
      this.#o.logger.error('mailbox closed with writes the store refused', {
        registrations: this.#peers.length,
        acks: this.#acks.length,
      });
    }
    await this.#lastSync;
  }

  #schedule(): void {
    if (this.#timer || this.#closed || (this.#syncing && this.#acks.length === 0)) return;
    this.#timer = this.#o.clock.setTimeout(() => {
      this.#timer = undefined;
      if (!this.#syncing) return this.flush();
      // The fsync still runs: only the acks go now (see #syncing).
      const acks = this.#acks;
      this.#acks = [];
      if (acks.length > 0) this.#flushLocal(this.#o.store as MailboxStore, [], acks, []);
    }, this.#o.maxDelayMs);
  }
}
