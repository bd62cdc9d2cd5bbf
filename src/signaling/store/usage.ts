/**
 * What the mailbox store holds, counted in memory so every quota check is O(1): per recipient
 * (all senders, peers together, each peer sender), and store-wide (count and bytes, per sender
 * class). Both stores keep one; SQLite rebuilds it from the table at open.
 *
 * The quotas it answers (issue 8, finding 4: one peer filled an offline victim's whole mailbox
 * in 14 s and the app's own POSTs got 507 for the 7-day TTL):
 * - a peer may hold at most `perPeerSenderSlots` of one recipient's mailbox;
 * - peers together at most `peerMailboxShare` of it: the rest is reserved for API-key traffic
 *   (the app server), which therefore always has room however many key pairs flood;
 * - the whole store at most `maxNotifications` / `maxBytes`, of which peers together at most
 *   `peerStoreShare`, again so the app keeps room when strangers fill the disk.
 * The values and their reasons are in ../constants.ts (STORE_QUOTAS).
 */
import { STORE_QUOTAS } from '../constants.js';
import { SignalingErrorCode } from '../errors.js';

export type StoreQuotas = { -readonly [K in keyof typeof STORE_QUOTAS]: number };

/**
 * Who sent a notification. API-key posts carry `from = 'app:' + label` (admission.ts
 * apiKeyLabel); peer ids are 32 base32 characters and can never contain ':', so a peer cannot
 * pose as the app.
 */
export type SenderClass = 'app' | 'peer';

export function senderClass(from: string): SenderClass {
  return from.startsWith('app:') ? 'app' : 'peer';
}

/** What a stored notification weighs against the byte quota. */
export interface Weighed {
  from: string;
  to: string;
  bytes: number;
}

/**
 * Fixed per-row cost added to the payload bytes: seq, ts and expires (3 × 8 bytes), SQLite's row
 * header and the entries of the three indexes (recipient+seq, expires, recipient+id+sender) that
 * repeat recipient and id. An estimate, so the byte quota tracks the disk it protects within a
 * small factor; SQL: see sqlite-store.ts ROW_BYTES_SQL.
 */
export const ROW_OVERHEAD_BYTES = 64;

/** Payload bytes of a notification as stored (UTF-8), plus the per-row overhead. */
export function notificationBytes(n: {
  id: string;
  from: string;
  to: string;
  topic: string;
  body: string;
}): number {
  return (
    Buffer.byteLength(n.id) +
    Buffer.byteLength(n.from) +
    Buffer.byteLength(n.to) +
    Buffer.byteLength(n.topic) +
    Buffer.byteLength(n.body) +
    ROW_OVERHEAD_BYTES
  );
}

interface RecipientUsage {
  count: number;
  peerCount: number;
  /** Slots held per peer sender (apps are bounded by the reservation, not per sender). */
  peers: Map<string, number>;
}

export interface Refusal {
  code: SignalingErrorCode;
  message: string;
}

export class MailboxUsage {
  readonly quotas: StoreQuotas;
  readonly #to = new Map<string, RecipientUsage>();
  #count = 0;
  #bytes = 0;
  #peerCount = 0;
  #peerBytes = 0;
  /**
   * Changes made inside the current transaction, undone if it fails: a failed SQLite batch is
   * rolled back on disk, and its counts must be too, or the recipient's mailbox looks fuller than
   * it is until a restart (issue 8, finding 11).
   */
  #journal: [Weighed, number, number][] = [];
  #depthTx = 0;

  constructor(quotas: Partial<StoreQuotas> = {}) {
    this.quotas = { ...STORE_QUOTAS, ...quotas };
    const q = this.quotas;
    if (!(q.peerMailboxShare >= 0 && q.peerMailboxShare <= 1))
      throw new RangeError('peerMailboxShare must be within 0..1');
    if (!(q.peerStoreShare >= 0 && q.peerStoreShare <= 1))
      throw new RangeError('peerStoreShare must be within 0..1');
  }

  depth(to: string): number {
    return this.#to.get(to)?.count ?? 0;
  }

  peerDepth(to: string): number {
    return this.#to.get(to)?.peerCount ?? 0;
  }

  senderDepth(to: string, from: string): number {
    return this.#to.get(to)?.peers.get(from) ?? 0;
  }

  get count(): number {
    return this.#count;
  }

  get bytes(): number {
    return this.#bytes;
  }

  get peerCount(): number {
    return this.#peerCount;
  }

  get peerBytes(): number {
    return this.#peerBytes;
  }

  /**
   * Why `n` may not be stored now (undefined: it may). `mailboxQuota` is the per-recipient total
   * (LIMITS.mailboxQuota). Checked before the insert, inside the batch's transaction, so the
   * notifications of one batch are counted against each other.
   */
  refusal(n: Weighed, mailboxQuota: number): Refusal | undefined {
    const q = this.quotas;
    const peer = senderClass(n.from) === 'peer';
    const count = this.#count + 1;
    const bytes = this.#bytes + n.bytes;
    if (
      count > q.maxNotifications ||
      bytes > q.maxBytes ||
      (peer &&
        (this.#peerCount + 1 > q.maxNotifications * q.peerStoreShare ||
          this.#peerBytes + n.bytes > q.maxBytes * q.peerStoreShare))
    ) {
      return {
        code: SignalingErrorCode.STORE_QUOTA,
        message: `the server's mailbox store is full (${peer ? 'peer share of ' : ''}quota ${q.maxNotifications} notifications / ${q.maxBytes} bytes); retry later`,
      };
    }
    if (this.depth(n.to) + 1 > mailboxQuota) {
      return {
        code: SignalingErrorCode.MAILBOX_FULL,
        message: `mailbox of ${n.to} is full (${mailboxQuota} notifications waiting); retry after it drains`,
      };
    }
    if (!peer) return undefined;
    const peerSlots = Math.floor(mailboxQuota * q.peerMailboxShare);
    if (this.peerDepth(n.to) + 1 > peerSlots) {
      return {
        code: SignalingErrorCode.MAILBOX_FULL,
        message: `mailbox of ${n.to} is full for peers (${peerSlots} notifications from peers waiting); retry after it drains`,
      };
    }
    if (this.senderDepth(n.to, n.from) + 1 > q.perPeerSenderSlots) {
      return {
        code: SignalingErrorCode.SENDER_QUOTA,
        message: `you already have ${q.perPeerSenderSlots} notifications waiting in the mailbox of ${n.to}; retry after it drains`,
      };
    }
    return undefined;
  }

  /** Start a transaction (nestable); every add/remove until the matching end can be undone. */
  begin(): number {
    this.#depthTx++;
    return this.#journal.length;
  }

  /** The transaction begun at `mark` committed. */
  commit(): void {
    if (--this.#depthTx === 0) this.#journal = [];
  }

  /** The transaction begun at `mark` failed: undo what it counted. */
  rollback(mark: number): void {
    const undo = this.#journal.splice(mark);
    this.#depthTx--;
    for (let i = undo.length - 1; i >= 0; i--) {
      const [n, k, bytes] = undo[i]!;
      this.#apply(n, -k, -bytes, false);
    }
  }

  /**
   * Count `k` notifications from `n.from` to `n.to` weighing `n.bytes` together (the
   * notificationBytes of each, summed).
   */
  add(n: Weighed, k = 1): void {
    this.#apply(n, k, n.bytes, true);
  }

  /** Uncount what `add` counted. */
  remove(n: Weighed, k = 1): void {
    this.#apply(n, -k, -n.bytes, true);
  }

  #apply(n: Weighed, k: number, bytes: number, journal: boolean): void {
    if (journal && this.#depthTx > 0) this.#journal.push([n, k, bytes]);
    const peer = senderClass(n.from) === 'peer';
    let r = this.#to.get(n.to);
    if (!r) this.#to.set(n.to, (r = { count: 0, peerCount: 0, peers: new Map() }));
    r.count += k;
    this.#count += k;
    this.#bytes += bytes;
    if (peer) {
      r.peerCount += k;
      this.#peerCount += k;
      this.#peerBytes += bytes;
      const s = (r.peers.get(n.from) ?? 0) + k;
      if (s <= 0) r.peers.delete(n.from);
      else r.peers.set(n.from, s);
    }
    if (r.count <= 0) this.#to.delete(n.to);
  }
}
