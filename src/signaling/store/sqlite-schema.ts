/**
 * The schema of the SQLite mailbox store (sqlite-store.ts): its tables and indexes, and the
 * migration that brings a database of any earlier version to the current one.
 */
import type Database from 'better-sqlite3';

/**
 * Schema version in `PRAGMA user_version`. 0: the first schema (ids unique store-wide, no
 * version stamped); 2: ids unique per (recipient, sender) (issue 8, finding 9); 3: `peers` has
 * `last_seen` (peer-limits.ts: idle registrations expire).
 */
const SCHEMA_VERSION = 3;

/** The mailbox table; `name` lets the migration build the new table beside the old one. */
const mailboxTable = (name: string) => `
CREATE TABLE ${name} (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- AUTOINCREMENT: a seq is never reused after a delete
  id TEXT NOT NULL,
  recipient TEXT NOT NULL,
  sender TEXT NOT NULL,
  topic TEXT NOT NULL,
  body TEXT NOT NULL,
  ts INTEGER NOT NULL,
  expires INTEGER NOT NULL,
  -- (recipient, id) first: an ack that names only the id finds its rows by this prefix.
  UNIQUE (recipient, id, sender)
);`;

const INDEXES = `
CREATE INDEX IF NOT EXISTS mailbox_recipient ON mailbox (recipient, seq);
CREATE INDEX IF NOT EXISTS mailbox_expires ON mailbox (expires);
`;

const PEERS = `
CREATE TABLE IF NOT EXISTS peers (
  peer TEXT PRIMARY KEY,
  public_key TEXT NOT NULL,
  first_seen INTEGER NOT NULL,
  last_seen INTEGER NOT NULL
);
`;

/** The idle expiry walks this index from the oldest (peer-limits.ts). */
const PEERS_INDEX = 'CREATE INDEX IF NOT EXISTS peers_last_seen ON peers (last_seen);';

/**
 * Bring the database to SCHEMA_VERSION, in one transaction; `now` stamps what the migration
 * cannot know.
 *
 * Version 0 had `id UNIQUE` on the column, which SQLite cannot drop with ALTER TABLE, so the
 * table is rebuilt as the SQLite manual describes (https://www.sqlite.org/lang_altertable.html
 * #otheralter): new table, copy, drop, rename. Rows keep their seq, and the AUTOINCREMENT
 * high-water mark is carried over so a seq of a deleted row is still never reused.
 *
 * Versions before 3 have no `last_seen`: the column is added (ALTER TABLE ADD COLUMN keeps every
 * row) and set to `now`, not to `first_seen` — a peer registered a year ago that logged in
 * yesterday would otherwise be expired by the first sweep after the upgrade, mailbox and all.
 * Every registration gets a full idle time from the upgrade instead.
 */
export function migrate(db: Database.Database, now: number): void {
  db.transaction(() => {
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version === SCHEMA_VERSION) return;
    if (version > SCHEMA_VERSION)
      throw new Error(`mailbox schema ${version} is newer than this natpush (${SCHEMA_VERSION})`);
    if (version < 2) migrateMailbox(db);
    db.exec(INDEXES);
    db.exec(PEERS);
    const columns = db.prepare('PRAGMA table_info(peers)').all() as { name: string }[];
    if (!columns.some((c) => c.name === 'last_seen')) {
      db.exec('ALTER TABLE peers ADD COLUMN last_seen INTEGER NOT NULL DEFAULT 0');
      db.prepare('UPDATE peers SET last_seen = ?').run(now);
    }
    db.exec(PEERS_INDEX);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  })();
}

/** Version 0 → 2: the mailbox table with (recipient, id, sender) unique (see migrate). */
function migrateMailbox(db: Database.Database): void {
  const exists = db
    .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'mailbox'")
    .get();
  if (!exists) {
    db.exec(mailboxTable('mailbox'));
    return;
  }
  const high = db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'mailbox'").get() as
    { seq: number } | undefined;
  db.exec(mailboxTable('mailbox_v2'));
  db.exec(
    'INSERT INTO mailbox_v2 (seq, id, recipient, sender, topic, body, ts, expires) ' +
      'SELECT seq, id, recipient, sender, topic, body, ts, expires FROM mailbox ORDER BY seq',
  );
  db.exec('DROP TABLE mailbox');
  db.exec('ALTER TABLE mailbox_v2 RENAME TO mailbox');
  if (high)
    db.prepare("UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = 'mailbox'").run(high.seq);
}
