/**
 * Group commit in front of the store. Notifications accepted during one event-loop turn are
 * written in one transaction — one fsync — and only then answered (`accept` resolves), so
 * "accepted" always means "on disk" while throughput is bounded by fsyncs per second times batch
 * size rather than by fsyncs per notification. Acks are applied the same way. Delivery to the
 * recipient starts at the commit, while the fsync runs (see #flushLocal for why that is safe;
 * mailbox-fsync.ts holds the `delivered`s that fsync may still make durable).
 * A notification for a recipient online here with room in its window is sent before it is
 * written, and if the recipient acks it within `earlyAckMs` it is never written at all
 * (early-accepts.ts: the fast path, and why `accepted` stays true).
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
  type MailboxStore,
  type NewNotification,
  type Removed,
  type StoredNotification,
} from './store/store.js';
import { storeFailure } from './store/failure.js';
import { STORE_RECOVERY } from './constants.js';
import { EarlyAccepts } from './early-accepts.js';
import { KnownPeers } from './known-peers.js';
import {
  commitLocal,
  commitShared,
  labelRemoved,
  refusal,
  type AcceptResult,
  type AckRef,
  type LocalCommit,
  type PendingAccept,
  type PendingAck,
  type PendingPeer,
} from './mailbox-batch.js';
import { FsyncWindow } from './mailbox-fsync.js';

export interface MailboxOptions<S extends AnyMailboxStore = AnyMailboxStore> {
  store: S;
  clock: Clock;
  logger: Logger;
  /** Per-recipient quota (LIMITS.mailboxQuota). */
  quota: number;
  /** Longest a batch waits for company (TIMING.groupCommitMaxDelayMs). */
  maxDelayMs: number;
  /**
   * A local store's fast path (early-accepts.ts): how long a notification sent to its recipient
   * before it is written waits for the recipient's ack (TIMING.earlyAckMs). 0 or absent: off,
   * every notification is written before it is sent.
   */
  earlyAckMs?: number;
}

export type { AcceptResult, AckRef } from './mailbox-batch.js';

export class Mailbox<S extends AnyMailboxStore = AnyMailboxStore> {
  readonly #o: MailboxOptions<S>;
  #accepts: PendingAccept[] = [];
  /** Recipients of unsent accepts in #accepts: they take no early ones (early-accepts.ts). */
  #queuedTo = new Set<string>();
  /** Sent before written, waiting for the recipient's ack; undefined when the fast path is off. */
  readonly #early: EarlyAccepts | undefined;
  #acks: PendingAck[] = [];
  #peers: PendingPeer[] = [];
  readonly #knownPeers: KnownPeers;
  #timer: TimerHandle | undefined;
  #retryTimer: TimerHandle | undefined;
  #closed = false;
  /** Store failures since start, by kind (logged each time; exported as a metric). */
  readonly failures = { commit: 0, sync: 0, checkpoint: 0 };
  #lastSync: Promise<void> = Promise.resolve();
  /**
   * A local store's running fsync. While it runs, scheduled commits of notifications and
   * registrations wait for it and then go as one transaction: they could only be made durable by
   * the next fsync anyway, and one transaction rewrites each hot page (the table's and every
   * index's last leaf) once instead of once per event-loop turn. Acks, which need no fsync, still
   * commit at once (`delivered` must not wait for a disk that takes 10–80 ms under load).
   */
  readonly #fsync = new FsyncWindow((r) => this.onRemoved(r));
  /** Called after each commit with the acks that removed something. */
  onRemoved: (r: Removed[]) => void = () => {};
  /** Called after each commit with the notifications it newly stored, in seq order. */
  onStored: (stored: StoredNotification[]) => void = () => {};
  /** Fast path (early-accepts.ts): send `n` before it is written; true if sent (delivery.ts). */
  sendEarly: (n: NewNotification) => boolean = () => false;
  /** Notifications acked before they were written (so never written), since start. */
  unwritten = 0;

  constructor(o: MailboxOptions<S>) {
    this.#o = o;
    const store: AnyMailboxStore = o.store;
    this.#knownPeers = new KnownPeers(store, o.clock);
    // A shared store answers dedupe and quotas for every node at its commit: no fast path there.
    if (isSharedStore(store)) store.onArrived = (stored) => this.onStored(stored);
    else if ((o.earlyAckMs ?? 0) > 0)
      this.#early = new EarlyAccepts(o.clock, o.earlyAckMs!, (due) => this.#queue(due));
    o.store.onBackgroundError = (what, err) => {
      this.failures[what]++;
      o.logger.error(`mailbox store ${what} failed`, { err, failures: this.failures[what] });
    };
  }

  get store(): S {
    return this.#o.store;
  }

  isKnown(peer: string): boolean {
    return this.#knownPeers.isKnown(peer);
  }

  /** known-peers.ts `checkKnown`. */
  checkKnown(peer: string): boolean | Promise<boolean> {
    return this.#knownPeers.checkKnown(peer);
  }

  get knownCount(): number {
    return this.#knownPeers.count;
  }

  /** Registrations dropped since start, by reason (known-peers.ts `dropped`). */
  get registrationsDropped(): Readonly<Record<'peer-limit' | 'idle', number>> {
    return this.#knownPeers.dropped;
  }

  /**
   * Remember a registered peer: written with the next batch (a shared store: at once).
   * `registration(peer)` says when that is durable. Re-registering a known peer is harmless.
   */
  register(peer: string, publicKey: string): void {
    if (this.#closed || !this.#knownPeers.add(peer)) return;
    const store: AnyMailboxStore = this.#o.store;
    const written = isSharedStore(store)
      ? store.registerNow(peer, publicKey)
      : new Promise<void>((resolve, reject) => {
          this.#peers.push({ peer, publicKey, done: { resolve, reject } });
          this.#schedule();
        });
    this.#knownPeers.track(peer, written);
  }

  /** Resolves once `peer`'s registration is durable (known-peers.ts `registration`). */
  registration(peer: string): Promise<void> {
    return this.#knownPeers.registration(peer);
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
      const a = { n, resolve, reject };
      // Early only within the quotas: what they would refuse at the write is not sent first.
      const early = this.#early;
      const store = this.#o.store as MailboxStore;
      if (early && !this.#queuedTo.has(n.to) && !refusal(store, n, this.#o.quota))
        if (this.sendEarly(n) && early.add(a, this.#o.clock.now())) return;
      this.#queue([a]);
    });
  }

  /** Queue accepts for the next batch (early-accepts.ts `committing` orders it). */
  #queue(list: PendingAccept[]): void {
    for (const a of list) if (!a.early) this.#queuedTo.add(a.n.to);
    for (const a of list) this.#accepts.push(a);
    this.#schedule();
  }

  /**
   * `peer`'s session started or ended: its early notifications go to the next batch, so that a
   * new session finds them in the mailbox (early-accepts.ts).
   */
  settle(peer: string): void {
    if (this.#early?.has(peer)) this.#queue(this.#early.takeFor(new Set([peer])));
  }

  /** Apply an end-to-end ack (fire and forget: a lost ack only means a redelivery, deduped);
   *  what it removes is labelled with `via`, the transport it came over (store.ts `Removed`). */
  ack(to: string, ids: readonly (string | AckRef)[], via?: PendingAck['via']): void {
    const unwritten: PendingAccept[] = [];
    for (const a of ids) {
      const e = typeof a !== 'string' && a.from ? this.#early?.take(to, a.from, a.id) : undefined;
      // In the recipient's hands before it was written: nothing to write or delete.
      if (e) unwritten.push(e);
      else
        this.#acks.push(
          typeof a === 'string'
            ? { to, id: a, from: undefined, via }
            : { to, id: a.id, from: a.from, bytes: a.bytes, seq: a.seq, via },
        );
    }
    if (unwritten.length > 0) {
      this.unwritten += unwritten.length;
      // Accepted, then `delivered`: the nextTick queued in the microtask runs after the promise
      // chain that writes `accepted` (as mailbox-fsync.ts `end`); both leave in one writev.
      queueMicrotask(() => {
        for (const e of unwritten) e.resolve({ seq: 0, duplicate: false });
        const removed = unwritten.map((e) => ({ id: e.n.id, from: e.n.from, to, via }));
        process.nextTick(() => this.onRemoved(removed));
      });
    }
    if (this.#acks.length > 0) this.#schedule();
  }

  /** Commit whatever is queued now (shutdown, tests). */
  flush(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    let accepts = this.#accepts;
    const acks = this.#acks;
    const peers = this.#peers;
    if (accepts.length + acks.length + peers.length === 0) return;
    // Per recipient, the early ones first (per-sender order, early-accepts.ts `committing`).
    if (this.#early) accepts = this.#early.committing(accepts, this.#queuedTo);
    this.#accepts = [];
    this.#queuedTo = new Set();
    this.#acks = [];
    this.#peers = [];
    const store: AnyMailboxStore = this.#o.store;
    if (isSharedStore(store)) {
      const batch = { now: this.#o.clock.now(), mailboxQuota: this.#o.quota, peers, acks };
      this.#lastSync = commitShared(store, batch, accepts, {
        removed: (r) => this.onRemoved(labelRemoved(r, acks)),
        stored: (st) => this.onStored(st),
        failed: (err) => this.#commitFailed(err, accepts, acks, peers),
      });
      return;
    }
    this.#flushLocal(store, accepts, acks, peers);
  }

  #flushLocal(
    store: MailboxStore,
    accepts: PendingAccept[],
    acks: PendingAck[],
    peers: PendingPeer[],
  ): void {
    let commit: LocalCommit;
    try {
      const batch = { now: this.#o.clock.now(), quota: this.#o.quota };
      commit = commitLocal(store, batch, accepts, acks, peers);
    } catch (err) {
      this.#commitFailed(err, accepts, acks, peers);
      return;
    }
    const { results, removed, removedSeqs, stored } = commit;
    // An applied ack needs no fsync: if it is lost, the notification is delivered again and the
    // receiver's dedupe answers it. So the sender hears `delivered` without waiting for one —
    // unless the notification's own fsync may still run (mailbox-fsync.ts).
    if (removed.length > 0) this.#fsync.removed(removed, removedSeqs);
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
    this.#fsync.begin(results.flatMap((r) => (r instanceof SignalingError || !r ? [] : [r.seq])));
    const synced = () => {
      this.#fsync.end();
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
    // Unacked early notifications are written like the rest (and answered after the fsync).
    if (this.#early && this.#early.size > 0) this.#queue(this.#early.takeAll());
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
    if (this.#timer || this.#closed || (this.#fsync.running && this.#acks.length === 0)) return;
    this.#timer = this.#o.clock.setTimeout(() => {
      this.#timer = undefined;
      if (!this.#fsync.running) return this.flush();
      // The fsync still runs: only the acks go now (see #fsync).
      const acks = this.#acks;
      this.#acks = [];
      if (acks.length > 0) this.#flushLocal(this.#o.store as MailboxStore, [], acks, []);
    }, this.#o.maxDelayMs);
  }
}
