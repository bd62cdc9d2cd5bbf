import type {
  InsertResult,
  MailboxStore,
  NewNotification,
  Removed,
  StoredNotification,
} from './store.js';
import { MailboxUsage, notificationBytes, type StoreQuotas } from './usage.js';
import { PEER_EXPIRY_BATCH, peerLimits, type PeerLimits } from './peer-limits.js';

export interface MemoryStoreOptions {
  /** Override the store quotas (constants.ts STORE_QUOTAS). */
  quotas?: Partial<StoreQuotas>;
  /** Bounds on registrations (peer-limits.ts PEER_LIMITS). */
  peers?: Partial<PeerLimits>;
}

interface PeerRow {
  publicKey: string;
  lastSeen: number;
}

/** The store-wide identity of a notification: (from, to, id), unambiguous whatever they hold. */
function keyOf(from: string, to: string, id: string): string {
  return JSON.stringify([from, to, id]);
}

/** In-memory mailbox: same semantics as SQLite, nothing survives the process. */
export class MemoryStore implements MailboxStore {
  #seq = 0;
  readonly #byKey = new Map<string, StoredNotification>();
  /** Per recipient, keyed by seq, in seq order (insertion order of the Map). */
  readonly #byTo = new Map<string, Map<number, StoredNotification>>();
  /**
   * Registrations in last-seen order (a touch re-inserts at the end; clock time only grows), so
   * the idle expiry reads from the front and stops at the first one still fresh.
   */
  readonly #peers = new Map<string, PeerRow>();
  readonly usage: MailboxUsage;
  readonly peerLimits: PeerLimits;
  isLive: ((peer: string) => boolean) | undefined;
  onPeersExpired: ((peers: string[]) => void) | undefined;

  constructor(o: MemoryStoreOptions = {}) {
    this.usage = new MailboxUsage(o.quotas);
    this.peerLimits = peerLimits(o.peers);
  }

  /** Undo steps of the open transaction (maps only; usage.ts journals the counts). */
  #undo: (() => void)[] | undefined;

  /** All or nothing, like SQLite's: if `fn` throws, what it stored or removed is put back. */
  transaction<T>(fn: () => T): T {
    if (this.#undo) return fn(); // nested: the outer transaction undoes
    this.#undo = [];
    const mark = this.usage.begin();
    try {
      const r = fn();
      this.usage.commit();
      return r;
    } catch (err) {
      for (const u of this.#undo.reverse()) u();
      this.usage.rollback(mark);
      throw err;
    } finally {
      this.#undo = undefined;
    }
  }

  find(from: string, to: string, id: string): number | undefined {
    return this.#byKey.get(keyOf(from, to, id))?.seq;
  }

  insert(n: NewNotification): InsertResult {
    const old = this.#byKey.get(keyOf(n.from, n.to, n.id));
    if (old) return { kind: 'duplicate', seq: old.seq };
    const s: StoredNotification = { ...n, seq: ++this.#seq };
    this.#link(s);
    this.#undo?.push(() => this.#unlink(s));
    this.usage.add({ from: s.from, to: s.to, bytes: notificationBytes(s) });
    return { kind: 'inserted', seq: s.seq };
  }

  remove(to: string, id: string, from?: string): Removed | undefined {
    const s = from !== undefined ? this.#byKey.get(keyOf(from, to, id)) : this.#oldest(to, id);
    if (!s) return undefined;
    this.#delete(s);
    return { id, from: s.from, to };
  }

  /** Oldest notification `id` for `to`, whoever sent it (bounded by the mailbox quota). */
  #oldest(to: string, id: string): StoredNotification | undefined {
    for (const s of this.#byTo.get(to)?.values() ?? []) if (s.id === id) return s;
    return undefined;
  }

  pending(to: string, afterSeq: number, limit: number, now: number): StoredNotification[] {
    const out: StoredNotification[] = [];
    const q = this.#byTo.get(to);
    if (!q) return out;
    for (const s of q.values()) {
      if (s.seq <= afterSeq || s.expires <= now) continue;
      out.push(s);
      if (out.length >= limit) break;
    }
    return out;
  }

  depth(to: string): number {
    return this.usage.depth(to);
  }

  totalDepth(): number {
    return this.usage.count;
  }

  expire(now: number): number {
    let n = 0;
    for (const s of [...this.#byKey.values()]) {
      if (s.expires <= now) {
        this.#delete(s);
        n++;
      }
    }
    const gone = this.#expirePeers(now);
    for (const peer of gone)
      for (const s of [...(this.#byTo.get(peer)?.values() ?? [])]) {
        this.#delete(s);
        n++;
      }
    if (gone.length > 0) this.onPeersExpired?.(gone);
    return n;
  }

  /** sqlite-store.ts #expirePeers: idle registrations, oldest first, live ones seen now. */
  #expirePeers(now: number): string[] {
    const gone: string[] = [];
    const ttl = this.peerLimits.ttlMs;
    if (ttl <= 0) return gone;
    let looked = 0;
    for (const [peer, row] of this.#peers) {
      if (row.lastSeen >= now - ttl || looked++ >= PEER_EXPIRY_BATCH) break;
      gone.push(peer);
    }
    return gone.filter((peer) => {
      if (!this.isLive?.(peer)) return this.#peers.delete(peer);
      this.touchPeer(peer, now);
      return false;
    });
  }

  addPeer(peer: string, publicKey: string, now: number): void {
    if (this.#peers.has(peer)) return this.touchPeer(peer, now);
    this.#peers.set(peer, { publicKey, lastSeen: now });
    this.#undo?.push(() => this.#peers.delete(peer));
  }

  touchPeer(peer: string, now: number): void {
    const row = this.#peers.get(peer);
    if (!row || row.lastSeen >= now) return;
    // Not undone with a rolled-back transaction: a touch is never worth undoing.
    this.#peers.delete(peer);
    this.#peers.set(peer, { publicKey: row.publicKey, lastSeen: now });
  }

  knownPeers(): string[] {
    return [...this.#peers.keys()];
  }

  peersSeen(): [string, number][] {
    return [...this.#peers].map(([peer, row]) => [peer, row.lastSeen]);
  }

  peerKey(peer: string): string | undefined {
    return this.#peers.get(peer)?.publicKey;
  }

  close(): void {}

  #delete(s: StoredNotification): void {
    this.#unlink(s);
    this.#undo?.push(() => this.#relink(s));
    this.usage.remove({ from: s.from, to: s.to, bytes: notificationBytes(s) });
  }

  #link(s: StoredNotification): void {
    this.#byKey.set(keyOf(s.from, s.to, s.id), s);
    let q = this.#byTo.get(s.to);
    if (!q) this.#byTo.set(s.to, (q = new Map()));
    q.set(s.seq, s);
  }

  /** Undo of a delete: back in its place (seq order), not at the end. */
  #relink(s: StoredNotification): void {
    this.#link(s);
    const q = this.#byTo.get(s.to)!;
    this.#byTo.set(s.to, new Map([...q].sort((a, b) => a[0] - b[0])));
  }

  #unlink(s: StoredNotification): void {
    this.#byKey.delete(keyOf(s.from, s.to, s.id));
    const q = this.#byTo.get(s.to);
    q?.delete(s.seq);
    if (q && q.size === 0) this.#byTo.delete(s.to);
  }
}
