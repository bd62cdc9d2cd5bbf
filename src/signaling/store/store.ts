/**
 * The mailbox store: where accepted notifications live until the recipient acks them.
 *
 * Two kinds share the read side (`MailboxReader`: what delivery and the HTTP API read, always
 * synchronously, so the delivery engine is the same whatever the store):
 * - `MailboxStore`, a store inside this process: SQLite (durable, the default of `natpush serve`)
 *   and memory (tests, ephemeral nodes). Writes are synchronous too — better-sqlite3 is — and a
 *   group-commit layer above (../mailbox.ts) batches them into one transaction per event-loop
 *   turn.
 * - `SharedMailboxStore`, a store shared by several serve nodes (Redis, redis-store.ts). A batch
 *   is committed by one asynchronous call (one Redis round trip); reads are answered from a local
 *   copy of the mailboxes of the peers connected to this node (`claim`), which the store keeps
 *   current as other nodes store notifications for them.
 */
import type { SignalingErrorCode } from '../errors.js';
import type { Notification, Transport } from '../protocol.js';
import type { MailboxUsage } from './usage.js';
import type { PeerLimits } from './peer-limits.js';

/**
 * A stored notification; `seq` grows monotonically per store and is never reused.
 *
 * Identity is (from, to, id): ids are chosen by senders, so they are unique per sender and
 * recipient only. Were they unique store-wide, any peer could squat an id another sender will
 * use (an app's `build-1234`) and make that sender's notification fail (issue 8, finding 9).
 */
export interface StoredNotification extends Notification {
  seq: number;
}

export type NewNotification = Notification;

export type InsertResult =
  | { kind: 'inserted'; seq: number }
  /** Same (from, to, id) already stored: an idempotent retry of the same notify. */
  | { kind: 'duplicate'; seq: number };

export interface Removed {
  id: string;
  from: string;
  to: string;
  /**
   * Shared stores: the serve node the sender is connected to when the ack was applied, if not
   * this one (its `delivered` is routed there, ../../cluster/remote-presence.ts).
   */
  fromNode?: string | undefined;
  /**
   * The transport the recipient's ack came over, set by the mailbox (not the store) from the
   * ack it applied: `delivered.via` and `natpush_notifications_out_total{transport}`.
   */
  via?: Transport | undefined;
}

/** What delivery, the HTTP API and the server read of any store; synchronous. */
export interface MailboxReader {
  /** Up to `limit` unexpired notifications for `to` with seq > `afterSeq`, in seq order. */
  pending(to: string, afterSeq: number, limit: number, now: number): StoredNotification[];
  /** Stored notifications for `to` (expired ones count until swept). */
  depth(to: string): number;
  totalDepth(): number;
  /**
   * Delete everything expired at `now`; returns how many notifications. A shared store sweeps in
   * the background and returns what its previous sweep deleted. Also deletes registrations idle
   * longer than `peerLimits.ttlMs` (peer-limits.ts) together with their mailboxes, unless
   * `isLive` says the peer has a session now (then it counts as seen now); `onPeersExpired`
   * hears which.
   */
  expire(now: number): number;
  knownPeers(): string[];
  /** The bounds on registrations this store enforces (peer-limits.ts). */
  readonly peerLimits: PeerLimits;
  /**
   * Set by the owner (the signaling server): whether `peer` has a live session on this process.
   * The idle expiry never deletes such a peer. A shared store also asks the cluster's routes.
   */
  isLive?: ((peer: string) => boolean) | undefined;
  /** Set by the owner (known-peers.ts): registrations the expiry deleted. */
  onPeersExpired?: ((peers: string[]) => void) | undefined;
  /**
   * `peer` logged in again at `now`: note it as seen (its registration's idle time restarts).
   * The caller throttles (known-peers.ts: at most once per peer-limits.ts touchIntervalMs).
   * A local store writes at once (one small autocommit, not fsynced: a lost touch only shortens
   * the idle time); a shared store in the background.
   */
  touchPeer(peer: string, now: number): void;
  /** The raw Ed25519 public key (base64url) `peer` registered with (`addPeer`), if any. */
  peerKey(peer: string): string | undefined;
  /**
   * Set by the owner (mailbox.ts) to hear about failures of background work — SQLite's WAL
   * checkpoints, a shared store's sweeps — which have no caller to throw to; they are logged and
   * counted there.
   */
  onBackgroundError?: ((what: 'checkpoint', err: string) => void) | undefined;
  /** Release the store; resolves when its files (connections) are no longer touched. */
  close(): void | Promise<void>;
}

/** A store inside this process (SQLite, memory): synchronous writes in a transaction. */
export interface MailboxStore extends MailboxReader {
  readonly shared?: false;
  /** What is stored, counted per recipient, sender and class; answers the quotas. */
  readonly usage: MailboxUsage;
  /** Run `fn` as one durable transaction (all or nothing, one fsync). */
  transaction<T>(fn: () => T): T;
  /** The seq of the stored notification (from, to, id), if there is one. */
  find(from: string, to: string, id: string): number | undefined;
  /** Store `n` unless (n.from, n.to, n.id) is already stored. */
  insert(n: NewNotification): InsertResult;
  /**
   * Remove the notification `id` addressed to `to` and sent by `from`; returns what was removed.
   * Without `from` (an ack that names only the id), the oldest notification `id` for `to`.
   * `bytes`, when the caller holds the notification (delivery's in-flight copy), is its
   * usage.ts weight: the store need not read the row back to uncount it. Returns a new object
   * each time (the mailbox labels it with `via`).
   */
  remove(to: string, id: string, from?: string, bytes?: number): Removed | undefined;
  /**
   * Remember a peer that has registered (for UNKNOWN_PEER checks and presence lookups), seen at
   * `now`. The caller (known-peers.ts) enforces `peerLimits.max` before it asks.
   */
  addPeer(peer: string, publicKey: string, now: number): void;
  /** Registered peers with when each was last seen (ms), for known-peers.ts to load at start. */
  peersSeen(): [peer: string, lastSeen: number][];
  /**
   * Resolves once every transaction committed before the call is on stable storage. Absent when
   * `transaction()` itself is durable on return (or nothing is ever durable: memory).
   */
  sync?(): Promise<void>;
}

/** One group commit of a shared store: everything one event-loop turn queued. */
export interface CommitBatch {
  now: number;
  /** Per-recipient quota (LIMITS.mailboxQuota). */
  mailboxQuota: number;
  peers: readonly { peer: string; publicKey: string }[];
  accepts: readonly NewNotification[];
  acks: readonly { to: string; id: string; from: string | undefined }[];
}

/** What became of one accepted notification: stored, a duplicate, or refused (a quota). */
export type CommitOutcome =
  | { kind: 'inserted' | 'duplicate'; seq: number; online: boolean }
  | { kind: 'refused'; code: SignalingErrorCode; message: string };

export interface CommitResult {
  /** One per `accepts` entry, in order. */
  outcomes: CommitOutcome[];
  /** Acks that removed something. */
  removed: Removed[];
  /** Newly stored notifications for peers connected to this node, in seq order. */
  stored: StoredNotification[];
}

/**
 * A store shared by several serve nodes. A commit is all or nothing and, once it resolves, as
 * durable as the store promises (redis-store.ts: Redis's AOF). Reads come from a local copy of
 * the mailboxes this node `claim`ed.
 */
export interface SharedMailboxStore extends MailboxReader {
  readonly shared: true;
  commit(batch: CommitBatch): Promise<CommitResult>;
  /** Whether `peer` is known to have registered (this node's view: registrations broadcast). */
  isKnown(peer: string): boolean;
  /** Registered peers (this node's view). */
  readonly knownCount: number;
  /** Whether `peer` has registered with any node, asking the shared store itself. */
  lookupPeer(peer: string): Promise<boolean>;
  /**
   * Write a registration now (no group-commit delay); resolves once written, and the `welcome`
   * waits for that — so that any node the client (or an app it tells) sends to next already
   * finds it. Rejects if the write failed (the peer is then unknown here again), and with
   * PEER_LIMIT when the store holds `peerLimits.max` registrations (checked in the store, where
   * every node's registrations meet).
   */
  registerNow(peer: string, publicKey: string): Promise<void>;
  /**
   * `peer` is connected here now: route its notifications to this node, and load its mailbox
   * so that `pending` answers for it. Resolves once loaded.
   */
  claim(peer: string, transport: string): Promise<void>;
  /** `peer`'s session here ended: stop routing to this node (unless it moved on already). */
  release(peer: string): void;
  /** Told of notifications another node stored for a peer claimed here (in seq order). */
  onArrived: (stored: StoredNotification[]) => void;
  /** Told when `peer`'s local copy was refilled: pending may answer more than before. */
  onRefilled: (peer: string) => void;
  /** Told when another node took `peer` over (its session here must end). */
  onEvicted: (peer: string) => void;
}

export type AnyMailboxStore = MailboxStore | SharedMailboxStore;

export function isSharedStore(s: AnyMailboxStore): s is SharedMailboxStore {
  return s.shared === true;
}
