import type {
  InsertResult,
  MailboxStore,
  NewNotification,
  Removed,
  StoredNotification,
} from './store.js';
import { MailboxUsage, notificationBytes, type StoreQuotas } from './usage.js';

export interface MemoryStoreOptions {
  /** Override the store quotas (constants.ts STORE_QUOTAS). */
  quotas?: Partial<StoreQuotas>;
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
  readonly #peers = new Map<string, string>();
  readonly usage: MailboxUsage;

  constructor(o: MemoryStoreOptions = {}) {
    this.usage = new MailboxUsage(o.quotas);
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
    return n;
  }

  addPeer(peer: string, publicKey: string): void {
    if (this.#peers.has(peer)) return;
    this.#peers.set(peer, publicKey);
    this.#undo?.push(() => this.#peers.delete(peer));
  }

  knownPeers(): string[] {
    return [...this.#peers.keys()];
  }

  peerKey(peer: string): string | undefined {
    return this.#peers.get(peer);
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
