import type {
  InsertResult,
  MailboxStore,
  NewNotification,
  Removed,
  StoredNotification,
} from './store.js';

/** In-memory mailbox: same semantics as SQLite, nothing survives the process. */
export class MemoryStore implements MailboxStore {
  #seq = 0;
  readonly #byId = new Map<string, StoredNotification>();
  /** Per recipient, in seq order (insertion order of the Map). */
  readonly #byTo = new Map<string, Map<string, StoredNotification>>();
  readonly #peers = new Map<string, string>();
  #total = 0;

  transaction<T>(fn: () => T): T {
    return fn();
  }

  insert(n: NewNotification): InsertResult {
    const old = this.#byId.get(n.id);
    if (old)
      return old.from === n.from && old.to === n.to
        ? { kind: 'duplicate', seq: old.seq }
        : { kind: 'conflict' };
    const s: StoredNotification = { ...n, seq: ++this.#seq };
    this.#byId.set(n.id, s);
    let q = this.#byTo.get(n.to);
    if (!q) this.#byTo.set(n.to, (q = new Map()));
    q.set(n.id, s);
    this.#total++;
    return { kind: 'inserted', seq: s.seq };
  }

  remove(to: string, id: string): Removed | undefined {
    const s = this.#byId.get(id);
    if (!s || s.to !== to) return undefined;
    this.#delete(s);
    return { id, from: s.from, to };
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
    return this.#byTo.get(to)?.size ?? 0;
  }

  totalDepth(): number {
    return this.#total;
  }

  expire(now: number): number {
    let n = 0;
    for (const s of [...this.#byId.values()]) {
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

  peerKey(peer: string): string | undefined {
    return this.#peers.get(peer);
  }

  close(): void {}

  #delete(s: StoredNotification): void {
    this.#byId.delete(s.id);
    const q = this.#byTo.get(s.to);
    q?.delete(s.id);
    if (q && q.size === 0) this.#byTo.delete(s.to);
    this.#total--;
  }
}
