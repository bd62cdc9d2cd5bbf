/**
 * The mailbox store: where accepted notifications live until the recipient acks them. Two
 * implementations share this interface: SQLite (durable, the default of `natpush serve`) and
 * memory (tests, ephemeral nodes). Calls are synchronous — better-sqlite3 is, and a group-commit
 * layer above (../mailbox.ts) batches them into one transaction per event-loop turn.
 */
import type { Notification } from '../protocol.js';

/** A stored notification; `seq` grows monotonically per store and is never reused. */
export interface StoredNotification extends Notification {
  seq: number;
}

export type NewNotification = Notification;

export type InsertResult =
  | { kind: 'inserted'; seq: number }
  /** Same id, same sender and recipient: an idempotent retry of the same notify. */
  | { kind: 'duplicate'; seq: number }
  /** Same id already used by another sender or for another recipient. */
  | { kind: 'conflict' };

export interface Removed {
  id: string;
  from: string;
  to: string;
}

export interface MailboxStore {
  /** Run `fn` as one durable transaction (all or nothing, one fsync). */
  transaction<T>(fn: () => T): T;
  insert(n: NewNotification): InsertResult;
  /** Remove `id` if it is addressed to `to`; returns what was removed. */
  remove(to: string, id: string): Removed | undefined;
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
  /** Release the store; resolves when its files are no longer touched. */
  close(): void | Promise<void>;
}
