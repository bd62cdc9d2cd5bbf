/**
 * What one group commit (mailbox.ts) carries, and how it is written: the queued accepts, acks and
 * registrations, the duplicate/quota/insert step each accept goes through inside the batch's
 * transaction, and the batch in one transaction of a local store or one commit of a shared one.
 */
import { SignalingError } from './errors.js';
import type { Transport } from './protocol.js';
import { storeFailure } from './store/failure.js';
import type {
  CommitBatch,
  MailboxStore,
  NewNotification,
  Removed,
  SharedMailboxStore,
  StoredNotification,
} from './store/store.js';
import { notificationBytes } from './store/usage.js';

export interface AcceptResult {
  seq: number;
  duplicate: boolean;
  /**
   * Shared stores: whether the recipient was connected to some node at the commit (a store in
   * this process leaves it to presence, which sees every connection).
   */
  online?: boolean;
}

export interface PendingAccept {
  n: NewNotification;
  resolve: (r: AcceptResult) => void;
  reject: (e: unknown) => void;
  /** Sent before it was written (early-accepts.ts). */
  early?: boolean;
  /** ... and acked before its batch was written: left out of it (already resolved). */
  cancelled?: boolean;
}

/**
 * An end-to-end ack names a notification by id; ids are unique per (sender, recipient) only, so
 * the sender, when known (the in-flight entry the ack answers), makes it exact. Without it the
 * oldest notification with that id for the recipient is removed — the order delivery sends in.
 */
export interface AckRef {
  id: string;
  from?: string;
  /** The notification's usage.ts weight, when the acker holds it (store.ts `remove`). */
  bytes?: number;
  /** Its mailbox seq, when the acker knows it (0 or absent: not known, or not written). */
  seq?: number;
}

/** A registration queued for the next batch, and who waits for it to be durable. */
export interface PendingPeer {
  peer: string;
  publicKey: string;
  done?: { resolve: () => void; reject: (e: unknown) => void } | undefined;
}

export interface PendingAck {
  to: string;
  id: string;
  from: string | undefined;
  bytes?: number | undefined;
  /** AckRef `seq`: whether its `delivered` must wait for a running fsync (mailbox-fsync.ts). */
  seq?: number | undefined;
  /** The transport the ack came over (store.ts `Removed.via`). */
  via?: Transport | undefined;
}

/**
 * A shared store's removals come back from its commit without the transport each ack came over:
 * label them from the batch's acks (by recipient and id; a batch's acks are few).
 */
export function labelRemoved(removed: Removed[], acks: readonly PendingAck[]): Removed[] {
  const via = new Map<string, Transport>();
  for (const k of acks) if (k.via) via.set(`${k.to}\n${k.id}`, k.via);
  for (const r of removed) r.via ??= via.get(`${r.to}\n${r.id}`);
  return removed;
}

/** Why the quotas (store/usage.ts) would refuse `n` now, if they would. */
export function refusal(store: MailboxStore, n: NewNotification, quota: number) {
  return store.usage.refusal({ from: n.from, to: n.to, bytes: notificationBytes(n) }, quota);
}

/**
 * One notification of a batch, inside its transaction. A retry of something already stored is
 * answered as a duplicate whatever the quotas say (it takes no new room); anything else must
 * pass the quotas (store/usage.ts, `quota` the per-recipient LIMITS.mailboxQuota), counted
 * against the rest of this batch. Newly stored ones are appended to `stored`.
 */
export function insertChecked(
  store: MailboxStore,
  n: NewNotification,
  quota: number,
  stored: StoredNotification[],
): AcceptResult | SignalingError {
  const why = refusal(store, n, quota);
  if (why) {
    const seq = store.find(n.from, n.to, n.id);
    return seq !== undefined ? { seq, duplicate: true } : new SignalingError(why.code, why.message);
  }
  // The insert itself tells a duplicate (ON CONFLICT DO NOTHING): no lookup first, which was a
  // second SQLite statement per notification.
  const r = store.insert(n);
  if (r.kind === 'inserted') stored.push({ ...n, seq: r.seq });
  return { seq: r.seq, duplicate: r.kind === 'duplicate' };
}

/** What a local store's transaction of one batch did (mailbox.ts answers from it). */
export interface LocalCommit {
  /** Per accept, in order: its result, or why the quotas refused it. */
  results: (AcceptResult | SignalingError)[];
  removed: Removed[];
  /** Per `removed` entry: its seq if the ack knew it (mailbox-fsync.ts), else 0. */
  removedSeqs: number[];
  /** Newly stored, in seq order. */
  stored: StoredNotification[];
}

/**
 * The whole batch in one transaction of a local store: registrations, accepts, acks. Throws what
 * the store threw; it rolled the whole batch back then, its counts included (store.ts
 * transaction).
 */
export function commitLocal(
  store: MailboxStore,
  batch: { now: number; quota: number },
  accepts: readonly PendingAccept[],
  acks: readonly PendingAck[],
  peers: readonly PendingPeer[],
): LocalCommit {
  const c: LocalCommit = { results: [], removed: [], removedSeqs: [], stored: [] };
  store.transaction(() => {
    for (const p of peers) store.addPeer(p.peer, p.publicKey, batch.now);
    for (const a of accepts) c.results.push(insertChecked(store, a.n, batch.quota, c.stored));
    for (const k of acks) {
      const r = store.remove(k.to, k.id, k.from, k.bytes);
      if (!r) continue;
      c.removed.push(Object.assign(r, { via: k.via })); // new per call (store.ts)
      c.removedSeqs.push(k.seq ?? 0);
    }
  });
  return c;
}

/**
 * The whole batch in one commit of a shared store. Commits are issued in order on one
 * connection and answered in order, so seq order (= per-sender order) is issue order, and a
 * later batch's `stored` never overtakes an earlier one's. The accepts are answered only once
 * the store said the batch is durable (redis-store.ts states what that means).
 */
export function commitShared(
  store: SharedMailboxStore,
  batch: Omit<CommitBatch, 'accepts'>,
  accepts: PendingAccept[],
  on: {
    removed: (r: Removed[]) => void;
    stored: (s: StoredNotification[]) => void;
    failed: (err: unknown) => void;
  },
): Promise<void> {
  return store.commit({ ...batch, accepts: accepts.map((a) => a.n) }).then((r) => {
    if (r.removed.length > 0) on.removed(r.removed);
    accepts.forEach((a, i) => {
      const o = r.outcomes[i];
      if (!o) a.reject(storeFailure(new Error('no outcome'), 'mailbox write failed'));
      else if (o.kind === 'refused') a.reject(new SignalingError(o.code, o.message));
      else a.resolve({ seq: o.seq, duplicate: o.kind === 'duplicate', online: o.online });
    });
    if (r.stored.length > 0) on.stored(r.stored);
  }, on.failed);
}
