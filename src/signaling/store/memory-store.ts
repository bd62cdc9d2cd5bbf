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

  transaction<T>(fn: () => T): T {
    return fn();
  }

  find(from: string, to: string, id: string): number | undefined {
    return this.#byKey.get(keyOf(from, to, id))?.seq;
  }

  insert(n: NewNotification): InsertResult {
    const old = this.#byKey.get(keyOf(n.from, n.to, n.id));
    if (old) return { kind: 'duplicate', seq: old.seq };
    const s: StoredNotification = { ...n, seq: ++this.#seq };
    this.#byKey.set(keyOf(n.from, n.to, n.id), s);
    let q = this.#byTo.get(n.to);
    if (!q) this.#byTo.set(n.to, (q = new Map()));
    q.set(s.seq, s);
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
    this.#peers.set(peer, publicKey);
  }

  knownPeers(): string[] {
    return [...this.#peers.keys()];
  }

  close(): void {}

  #delete(s: StoredNotification): void {
    this.#byKey.delete(keyOf(s.from, s.to, s.id));
    const q = this.#byTo.get(s.to);
    q?.delete(s.seq);
    if (q && q.size === 0) this.#byTo.delete(s.to);
    this.usage.remove({ from: s.from, to: s.to, bytes: notificationBytes(s) });
  }
}
