/**
 * The mailbox store: where accepted notifications live until the recipient acks them. Two
 * implementations share this interface: SQLite (durable, the default of `natpush serve`) and
 * memory (tests, ephemeral nodes). Calls are synchronous — better-sqlite3 is, and a group-commit
 * layer above (../mailbox.ts) batches them into one transaction per event-loop turn.
 */
import type { Notification } from '../protocol.js';
import type { MailboxUsage } from './usage.js';

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
}

export interface MailboxStore {
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
   */
  remove(to: string, id: string, from?: string): Removed | undefined;
  /** Up to `limit` unexpired notifications for `to` with seq > `afterSeq`, in seq order. */
  pending(to: string, afterSeq: number, limit: number, now: number): StoredNotification[];
  /** Stored notifications for `to` (expired ones count until swept). */
  depth(to: string): number;
  totalDepth(): number;
  /** Delete everything expired at `now`; returns how many. */
  expire(now: number): number;
  /** Remember a peer that has registered (for UNKNOWN_PEER checks and presence lookups). */
  addPeer(peer: string, publicKey: string, now: number): void;
  knownPeers(): string[];
  /** The raw Ed25519 public key (base64url) `peer` registered with (`addPeer`), if any. */
  peerKey(peer: string): string | undefined;
  /**
   * Resolves once every transaction committed before the call is on stable storage. Absent when
   * `transaction()` itself is durable on return (or nothing is ever durable: memory).
   */
  sync?(): Promise<void>;
  /**
   * Set by the owner (mailbox.ts) to hear about failures of background work — SQLite's WAL
   * checkpoints — which have no caller to throw to; they are logged and counted there.
   */
  onBackgroundError?: ((what: 'checkpoint', err: string) => void) | undefined;
  /** Release the store; resolves when its files are no longer touched. */
  close(): void | Promise<void>;
}
