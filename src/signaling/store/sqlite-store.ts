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
import { chmodSync, closeSync, existsSync, fdatasync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { DATA_DIR_MODE, DATA_FILE_MODE, ensurePrivateFile } from '../data-dir.js';
import { storeFailure } from './failure.js';
import type {
  InsertResult,
  MailboxStore,
  NewNotification,
  Removed,
  StoredNotification,
} from './store.js';
import { MailboxUsage, notificationBytes, ROW_OVERHEAD_BYTES, type StoreQuotas } from './usage.js';
import { PEER_EXPIRY_BATCH, peerLimits, type PeerLimits } from './peer-limits.js';
import { systemClock, type Clock } from '../../util/clock.js';
import { migrate } from './sqlite-schema.js';

/** usage.ts notificationBytes() in SQL: UTF-8 byte lengths (CAST AS BLOB) plus the row overhead. */
const ROW_BYTES_SQL = `(length(CAST(id AS BLOB)) + length(CAST(sender AS BLOB)) + length(CAST(recipient AS BLOB)) + length(CAST(topic AS BLOB)) + length(CAST(body AS BLOB)) + ${ROW_OVERHEAD_BYTES})`;

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

export interface SqliteStoreOptions {
  /** 'async' (default): fdatasync of the WAL off the event loop, awaited by `sync()`;
   *  'commit': synchronous=FULL, every commit fsyncs in-line. */
  fsync?: 'async' | 'commit';
  /** Checkpoint the WAL from a worker thread every this many ms (default 1,000; 0 = SQLite's
   *  automatic in-line checkpoints). See checkpointer.ts. */
  checkpointMs?: number;
  /** Override the store quotas (constants.ts STORE_QUOTAS). */
  quotas?: Partial<StoreQuotas>;
  /** Bounds on registrations (peer-limits.ts PEER_LIMITS). */
  peers?: Partial<PeerLimits>;
  /** Stamps the `last_seen` of rows an older schema lacks (sqlite-schema.ts migrate). Default:
   *  the system clock. */
  clock?: Clock;
}

/** Rows of one (recipient, sender), counted and weighed together. */
interface Group {
  recipient: string;
  sender: string;
  n: number;
  bytes: number;
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
  readonly usage: MailboxUsage;
  /** Checkpoints that failed since open (see onBackgroundError). */
  checkpointFailures = 0;
  onBackgroundError: ((what: 'checkpoint', err: string) => void) | undefined;
  readonly peerLimits: PeerLimits;
  isLive: ((peer: string) => boolean) | undefined;
  onPeersExpired: ((peers: string[]) => void) | undefined;
  readonly #st;

  /**
   * Opens (creating if needed) and migrates `file`. A store that cannot be written — read-only
   * file system, a file or directory the process may not write — throws a SignalingError
   * STORE_READ_ONLY (or STORE_DISK_FULL / STORE_FAILED) naming the file, and touches nothing.
   */
  constructor(file: string, o: SqliteStoreOptions = {}) {
    this.peerLimits = peerLimits(o.peers);
    try {
      this.#db = SqliteStore.#open(file, o);
    } catch (err) {
      throw storeFailure(err, 'cannot open the mailbox store for writing', file);
    }
    // The schema statements created the WAL; it keeps its inode until the last close.
    if (o.fsync !== 'commit') this.#walFd = openSync(`${file}-wal`, 'r');
    const checkpointMs = o.checkpointMs ?? 1_000;
    if (checkpointMs > 0) {
      this.#db.pragma('wal_autocheckpoint = 0');
      // A failed checkpoint (a full disk, an I/O error) is counted and reported, never
      // swallowed: the WAL then grows until checkpoints succeed again.
      this.#checkpointer = new Checkpointer(file, checkpointMs, (err) => {
        this.checkpointFailures++;
        this.onBackgroundError?.('checkpoint', err);
      });
    }
    const db = this.#db;
    this.#st = {
      insert: db.prepare(
        'INSERT INTO mailbox (id, recipient, sender, topic, body, ts, expires) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (recipient, id, sender) DO NOTHING',
      ),
      find: db.prepare('SELECT seq FROM mailbox WHERE recipient = ? AND id = ? AND sender = ?'),
      remove: db.prepare(
        `DELETE FROM mailbox WHERE recipient = ? AND id = ? AND sender = ? RETURNING sender, ${ROW_BYTES_SQL} AS bytes`,
      ),
      // The weight known (the caller holds the notification): no RETURNING, whose byte-length
      // expression cost as much as the delete itself (measured: 22–32 → 10–17 µs per
      // insert + delete pair).
      removeKnown: db.prepare('DELETE FROM mailbox WHERE recipient = ? AND id = ? AND sender = ?'),
      removeOldest: db.prepare(
        `DELETE FROM mailbox WHERE seq = (SELECT seq FROM mailbox WHERE recipient = ? AND id = ? ORDER BY seq LIMIT 1) RETURNING sender, ${ROW_BYTES_SQL} AS bytes`,
      ),
      pending: db.prepare(
        'SELECT * FROM mailbox WHERE recipient = ? AND seq > ? AND expires > ? ORDER BY seq LIMIT ?',
      ),
      expiredCounts: db.prepare(
        `SELECT recipient, sender, COUNT(*) AS n, SUM(${ROW_BYTES_SQL}) AS bytes FROM mailbox WHERE expires <= ? GROUP BY recipient, sender`,
      ),
      expire: db.prepare('DELETE FROM mailbox WHERE expires <= ?'),
      // A registration of a peer whose row is there (written before the process knew it) is a
      // login: it only moves last_seen.
      addPeer: db.prepare(
        'INSERT INTO peers (peer, public_key, first_seen, last_seen) VALUES (?, ?, ?, ?) ON CONFLICT (peer) DO UPDATE SET last_seen = max(last_seen, excluded.last_seen)',
      ),
      touchPeer: db.prepare('UPDATE peers SET last_seen = max(last_seen, ?) WHERE peer = ?'),
      idlePeers: db.prepare(
        'SELECT peer FROM peers WHERE last_seen < ? ORDER BY last_seen LIMIT ?',
      ),
      peerMailbox: db.prepare(
        `SELECT sender, COUNT(*) AS n, SUM(${ROW_BYTES_SQL}) AS bytes FROM mailbox WHERE recipient = ? GROUP BY sender`,
      ),
      deleteMailbox: db.prepare('DELETE FROM mailbox WHERE recipient = ?'),
      deletePeer: db.prepare('DELETE FROM peers WHERE peer = ?'),
      peers: db.prepare('SELECT peer FROM peers'),
      peersSeen: db.prepare('SELECT peer, last_seen FROM peers').raw(),
      peerKey: db.prepare('SELECT public_key FROM peers WHERE peer = ?'),
    };
    this.usage = new MailboxUsage(o.quotas);
    const groups = db
      .prepare(
        `SELECT recipient, sender, COUNT(*) AS n, SUM(${ROW_BYTES_SQL}) AS bytes FROM mailbox GROUP BY recipient, sender`,
      )
      .all() as Group[];
    for (const g of groups)
      this.usage.add({ from: g.sender, to: g.recipient, bytes: g.bytes }, g.n);
  }

  /**
   * One SQLite transaction; if it fails (SQLITE_FULL, I/O error, a throw in `fn`), SQLite rolls
   * it back and so are the in-memory counts it changed (usage.ts journal): all or nothing.
   */
  /** Create (0600), open, configure and migrate the database; throws what SQLite or fs throw. */
  static #open(file: string, o: SqliteStoreOptions): Database.Database {
    mkdirSync(dirname(file), { recursive: true, mode: DATA_DIR_MODE });
    // Bodies are stored in plaintext: the database and its -wal/-shm are the owner's only
    // (issue 8, finding 7). SQLite gives -wal/-shm the database file's mode, so creating the
    // database 0600 first covers them; ones left by an older version are fixed here.
    ensurePrivateFile(file);
    for (const side of [`${file}-wal`, `${file}-shm`, `${file}-journal`])
      if (existsSync(side)) chmodSync(side, DATA_FILE_MODE);
    const db = new Database(file);
    try {
      db.pragma('journal_mode = WAL');
      db.pragma('busy_timeout = 5000');
      migrate(db, (o.clock ?? systemClock).now());
      db.pragma(o.fsync === 'commit' ? 'synchronous = FULL' : 'synchronous = NORMAL');
      // SQLite opens a file it may not write read-only without complaint; find out now, not
      // at the first notification (an empty write transaction writes nothing).
      db.exec('BEGIN IMMEDIATE; COMMIT');
      if (db.readonly) throw Object.assign(new Error('opened read-only'), { code: 'EROFS' });
    } catch (err) {
      db.close();
      throw err;
    }
    return db;
  }

  transaction<T>(fn: () => T): T {
    const mark = this.usage.begin();
    try {
      const r = this.#db.transaction(fn)();
      this.usage.commit();
      return r;
    } catch (err) {
      this.usage.rollback(mark);
      throw err;
    }
  }

  find(from: string, to: string, id: string): number | undefined {
    return (this.#st.find.get(to, id, from) as { seq: number } | undefined)?.seq;
  }

  insert(n: NewNotification): InsertResult {
    const r = this.#st.insert.run(n.id, n.to, n.from, n.topic, n.body, n.ts, n.expires);
    if (r.changes === 1) {
      this.usage.add({ from: n.from, to: n.to, bytes: notificationBytes(n) });
      return { kind: 'inserted', seq: Number(r.lastInsertRowid) };
    }
    return { kind: 'duplicate', seq: this.find(n.from, n.to, n.id)! };
  }

  remove(to: string, id: string, from?: string, bytes?: number): Removed | undefined {
    if (from !== undefined && bytes !== undefined) {
      if (this.#st.removeKnown.run(to, id, from).changes !== 1) return undefined;
      this.usage.remove({ from, to, bytes });
      return { id, from, to };
    }
    const r = (
      from !== undefined ? this.#st.remove.get(to, id, from) : this.#st.removeOldest.get(to, id)
    ) as { sender: string; bytes: number } | undefined;
    if (!r) return undefined;
    this.usage.remove({ from: r.sender, to, bytes: r.bytes });
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
    return this.usage.depth(to);
  }

  totalDepth(): number {
    return this.usage.count;
  }

  expire(now: number): number {
    let gone: string[] = [];
    const n = this.transaction(() => {
      for (const g of this.#st.expiredCounts.all(now) as Group[])
        this.usage.remove({ from: g.sender, to: g.recipient, bytes: g.bytes }, g.n);
      const expired = this.#st.expire.run(now).changes;
      const idle = this.#expirePeers(now);
      gone = idle.peers;
      return expired + idle.notifications;
    });
    if (gone.length > 0) this.onPeersExpired?.(gone);
    return n;
  }

  /**
   * Registrations idle longer than the ttl, oldest first, at most PEER_EXPIRY_BATCH per sweep:
   * deleted with their mailboxes (uncounted from usage), unless live (then seen now).
   */
  #expirePeers(now: number): { peers: string[]; notifications: number } {
    const out = { peers: [] as string[], notifications: 0 };
    const ttl = this.peerLimits.ttlMs;
    if (ttl <= 0) return out;
    const idle = this.#st.idlePeers.all(now - ttl, PEER_EXPIRY_BATCH) as { peer: string }[];
    for (const { peer } of idle) {
      if (this.isLive?.(peer)) {
        this.#st.touchPeer.run(now, peer);
        continue;
      }
      for (const g of this.#st.peerMailbox.all(peer) as Group[])
        this.usage.remove({ from: g.sender, to: peer, bytes: g.bytes }, g.n);
      out.notifications += this.#st.deleteMailbox.run(peer).changes;
      this.#st.deletePeer.run(peer);
      out.peers.push(peer);
    }
    return out;
  }

  addPeer(peer: string, publicKey: string, now: number): void {
    this.#st.addPeer.run(peer, publicKey, now, now);
  }

  touchPeer(peer: string, now: number): void {
    this.#st.touchPeer.run(now, peer);
  }

  peersSeen(): [string, number][] {
    return this.#st.peersSeen.all() as [string, number][];
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
}
