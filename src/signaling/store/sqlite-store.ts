/**
 * Durable mailbox in SQLite (better-sqlite3), WAL mode.
 *
 * Durability: a commit writes its frames to the WAL (so it survives SIGKILL at once); `sync()`
 * then fdatasyncs the WAL file on libuv's thread pool, and the mailbox acknowledges a
 * notification only after that (so it survives power loss too). This is what
 * synchronous=FULL does (https://www.sqlite.org/pragma.html#pragma_synchronous), but without
 * blocking the event loop: an fsync costs 2–3 ms on this machine's disk, which in-loop would cap
 * the whole server at ~350 commits/s with nothing else running. Commits made while an fsync
 * runs are covered by the next one (group commit). Checkpoints under synchronous=NORMAL sync the
 * WAL before copying it and the database after, so nothing acknowledged is lost by them.
 * `fsync: 'commit'` selects plain synchronous=FULL instead.
 */
import Database from 'better-sqlite3';
import { Checkpointer } from './checkpointer.js';
import { closeSync, fdatasync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import type {
  InsertResult,
  MailboxStore,
  NewNotification,
  Removed,
  StoredNotification,
} from './store.js';

interface Row {
  seq: number;
  id: string;
  recipient: string;
  sender: string;
  topic: string;
  body: string;
  ts: number;
  expires: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS mailbox (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- AUTOINCREMENT: a seq is never reused after a delete
  id TEXT NOT NULL UNIQUE,
  recipient TEXT NOT NULL,
  sender TEXT NOT NULL,
  topic TEXT NOT NULL,
  body TEXT NOT NULL,
  ts INTEGER NOT NULL,
  expires INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS mailbox_recipient ON mailbox (recipient, seq);
CREATE INDEX IF NOT EXISTS mailbox_expires ON mailbox (expires);
CREATE TABLE IF NOT EXISTS peers (
  peer TEXT PRIMARY KEY,
  public_key TEXT NOT NULL,
  first_seen INTEGER NOT NULL
);
`;

export interface SqliteStoreOptions {
  /** 'async' (default): fdatasync of the WAL off the event loop, awaited by `sync()`;
   *  'commit': synchronous=FULL, every commit fsyncs in-line. */
  fsync?: 'async' | 'commit';
  /** Checkpoint the WAL from a worker thread every this many ms (default 1,000; 0 = SQLite's
   *  automatic in-line checkpoints). See checkpointer.ts. */
  checkpointMs?: number;
}

interface SyncWaiter {
  resolve: () => void;
  reject: (e: unknown) => void;
}

export class SqliteStore implements MailboxStore {
  readonly #db: Database.Database;
  #walFd: number | undefined;
  #syncRunning = false;
  #syncQueue: SyncWaiter[] = [];
  #checkpointer: Checkpointer | undefined;
  readonly #depth = new Map<string, number>();
  #total = 0;
  readonly #st;

  constructor(file: string, o: SqliteStoreOptions = {}) {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    this.#db = new Database(file);
    this.#db.pragma('journal_mode = WAL');
    this.#db.pragma('busy_timeout = 5000');
    this.#db.exec(SCHEMA);
    if (o.fsync === 'commit') this.#db.pragma('synchronous = FULL');
    else {
      this.#db.pragma('synchronous = NORMAL');
      // The schema statement above created the WAL; it keeps its inode until the last close.
      this.#walFd = openSync(`${file}-wal`, 'r');
    }
    const checkpointMs = o.checkpointMs ?? 1_000;
    if (checkpointMs > 0) {
      this.#db.pragma('wal_autocheckpoint = 0');
      this.#checkpointer = new Checkpointer(file, checkpointMs, () => {});
    }
    const db = this.#db;
    this.#st = {
      insert: db.prepare(
        'INSERT INTO mailbox (id, recipient, sender, topic, body, ts, expires) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING',
      ),
      byId: db.prepare('SELECT seq, sender, recipient FROM mailbox WHERE id = ?'),
      remove: db.prepare('DELETE FROM mailbox WHERE id = ? AND recipient = ? RETURNING sender'),
      pending: db.prepare(
        'SELECT * FROM mailbox WHERE recipient = ? AND seq > ? AND expires > ? ORDER BY seq LIMIT ?',
      ),
      expiredCounts: db.prepare(
        'SELECT recipient, COUNT(*) AS n FROM mailbox WHERE expires <= ? GROUP BY recipient',
      ),
      expire: db.prepare('DELETE FROM mailbox WHERE expires <= ?'),
      addPeer: db.prepare(
        'INSERT INTO peers (peer, public_key, first_seen) VALUES (?, ?, ?) ON CONFLICT (peer) DO NOTHING',
      ),
      peers: db.prepare('SELECT peer FROM peers'),
      peerKey: db.prepare('SELECT public_key FROM peers WHERE peer = ?'),
    };
    for (const r of db
      .prepare('SELECT recipient, COUNT(*) AS n FROM mailbox GROUP BY recipient')
      .all() as {
      recipient: string;
      n: number;
    }[]) {
      this.#depth.set(r.recipient, r.n);
      this.#total += r.n;
    }
  }

  transaction<T>(fn: () => T): T {
    return this.#db.transaction(fn)();
  }

  insert(n: NewNotification): InsertResult {
    const r = this.#st.insert.run(n.id, n.to, n.from, n.topic, n.body, n.ts, n.expires);
    if (r.changes === 1) {
      this.#bump(n.to, 1);
      return { kind: 'inserted', seq: Number(r.lastInsertRowid) };
    }
    const old = this.#st.byId.get(n.id) as
      { seq: number; sender: string; recipient: string } | undefined;
    if (old && old.sender === n.from && old.recipient === n.to)
      return { kind: 'duplicate', seq: old.seq };
    return { kind: 'conflict' };
  }

  remove(to: string, id: string): Removed | undefined {
    const r = this.#st.remove.get(id, to) as { sender: string } | undefined;
    if (!r) return undefined;
    this.#bump(to, -1);
    return { id, from: r.sender, to };
  }

  pending(to: string, afterSeq: number, limit: number, now: number): StoredNotification[] {
    return (this.#st.pending.all(to, afterSeq, now, limit) as Row[]).map((r) => ({
      seq: r.seq,
      id: r.id,
      from: r.sender,
      to: r.recipient,
      topic: r.topic,
      body: r.body,
      ts: r.ts,
      expires: r.expires,
    }));
  }

  depth(to: string): number {
    return this.#depth.get(to) ?? 0;
  }

  totalDepth(): number {
    return this.#total;
  }

  expire(now: number): number {
    return this.transaction(() => {
      for (const r of this.#st.expiredCounts.all(now) as { recipient: string; n: number }[]) {
        this.#bump(r.recipient, -r.n);
      }
      return this.#st.expire.run(now).changes;
    });
  }

  addPeer(peer: string, publicKey: string, now: number): void {
    this.#st.addPeer.run(peer, publicKey, now);
  }

  knownPeers(): string[] {
    return (this.#st.peers.all() as { peer: string }[]).map((r) => r.peer);
  }

  peerKey(peer: string): string | undefined {
    return (this.#st.peerKey.get(peer) as { public_key: string } | undefined)?.public_key;
  }

  sync(): Promise<void> {
    if (this.#walFd === undefined) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.#syncQueue.push({ resolve, reject });
      this.#kickSync();
    });
  }

  /** One fdatasync at a time; waiters that arrive meanwhile need the next one (their commit may
   *  have landed after this one started). */
  #kickSync(): void {
    if (this.#syncRunning || this.#syncQueue.length === 0 || this.#walFd === undefined) return;
    const batch = this.#syncQueue;
    this.#syncQueue = [];
    this.#syncRunning = true;
    fdatasync(this.#walFd, (err) => {
      this.#syncRunning = false;
      for (const w of batch) {
        if (err) w.reject(err);
        else w.resolve();
      }
      this.#kickSync();
    });
  }

  async close(): Promise<void> {
    const checkpointer = this.#checkpointer;
    this.#checkpointer = undefined;
    await checkpointer?.close();
    if (this.#db.open) this.#db.close();
    if (this.#walFd !== undefined && !this.#syncRunning) {
      closeSync(this.#walFd);
      this.#walFd = undefined;
    }
  }

  #bump(to: string, d: number): void {
    const v = (this.#depth.get(to) ?? 0) + d;
    if (v <= 0) this.#depth.delete(to);
    else this.#depth.set(to, v);
    this.#total += d;
  }
}
