/**
 * Registrations are bounded (src/signaling/store/peer-limits.ts): a hard cap refuses new peers
 * with NATPUSH_ERR_PEER_LIMIT without evicting anyone, and a registration idle longer than the
 * ttl is deleted with its mailbox — unless the peer has a session. On the memory store and on
 * real SQLite files, through the Mailbox (the path every login takes); time is a ManualClock.
 */
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Mailbox } from '../../../src/signaling/mailbox.js';
import { MemoryStore } from '../../../src/signaling/store/memory-store.js';
import type { PeerLimits } from '../../../src/signaling/store/peer-limits.js';
import { SqliteStore } from '../../../src/signaling/store/sqlite-store.js';
import type { MailboxStore } from '../../../src/signaling/store/store.js';
import { ManualClock } from '../../../src/util/clock.js';
import { silentLogger } from '../../../src/util/logger.js';

const DAY = 86_400_000;
const [A, B, C] = ['a', 'b', 'c'].map((x) => x.repeat(32)) as [string, string, string];
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tmpFile(): string {
  const d = mkdtempSync(join(tmpdir(), 'np-peer-limits-'));
  dirs.push(d);
  return join(d, 'mailbox.sqlite');
}

type Make = (peers: Partial<PeerLimits>, clock: ManualClock) => MailboxStore;
const STORES: [string, Make][] = [
  ['memory', (peers) => new MemoryStore({ peers })],
  ['sqlite', (peers, clock) => new SqliteStore(tmpFile(), { peers, clock, checkpointMs: 0 })],
];

function mailbox(store: MailboxStore, clock: ManualClock): Mailbox<MailboxStore> {
  return new Mailbox({ store, clock, logger: silentLogger, quota: 8, maxDelayMs: 1 });
}

/** One login's registration, as ws-connection.ts does it: register, then await it. */
async function login(m: Mailbox, peer: string): Promise<string> {
  m.register(peer, `key-${peer[0]}`);
  m.flush();
  try {
    await m.registration(peer);
    return 'welcome';
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  }
}

const note = (from: string, to: string, id: string, now: number) => ({
  id,
  from,
  to,
  topic: '',
  body: `body ${id}`,
  ts: now,
  expires: now + 365 * DAY,
});

describe.each(STORES)('%s store: registrations are bounded', (_name, make) => {
  it('refuses a new peer at the cap with PEER_LIMIT, evicts nobody, and still lets known peers in', async () => {
    const clock = new ManualClock();
    const store = make({ max: 2 }, clock);
    const m = mailbox(store, clock);
    expect(await login(m, A)).toBe('welcome');
    expect(await login(m, B)).toBe('welcome');
    expect(await login(m, C)).toBe('NATPUSH_ERR_PEER_LIMIT');
    // Refused again (not welcomed unregistered by a second try), and nothing was written.
    expect(await login(m, C)).toBe('NATPUSH_ERR_PEER_LIMIT');
    expect(m.isKnown(C)).toBe(false);
    expect(store.knownPeers().sort()).toEqual([A, B]);
    expect(m.knownCount).toBe(2);
    expect(m.registrationsDropped).toEqual({ 'peer-limit': 2, idle: 0 }); // the metric's counts
    // Known peers log in at the cap, again and again.
    expect(await login(m, A)).toBe('welcome');
    expect(await login(m, B)).toBe('welcome');
    // A notification to the refused peer is refused as to any unknown one.
    expect(m.isKnown(A) && m.isKnown(B)).toBe(true);
    await m.close();
    await store.close();
  });

  it('deletes a registration idle past the ttl with its mailbox; a login restarts the idle time; room is made for new peers', async () => {
    const clock = new ManualClock();
    const store = make({ ttlMs: 10 * DAY, max: 2 }, clock);
    const m = mailbox(store, clock);
    const t0 = clock.now();
    expect(await login(m, A)).toBe('welcome');
    expect(await login(m, B)).toBe('welcome');
    // B has mail waiting; A sent it (A's share is counted in B's mailbox).
    store.transaction(() => store.insert(note(A, B, 'n1', t0)));
    expect(store.depth(B)).toBe(1);

    clock.advance(5 * DAY);
    expect(await login(m, A)).toBe('welcome'); // seen again: idle from here
    clock.advance(5 * DAY + 1); // B idle 10 days + 1 ms, A 5 days
    expect(store.expire(clock.now())).toBe(1); // B's notification went with it
    expect(store.knownPeers()).toEqual([A]);
    expect(m.isKnown(B)).toBe(false);
    expect(store.depth(B)).toBe(0);
    expect(store.totalDepth()).toBe(0);
    expect(store.usage.peerCount).toBe(0);
    expect(store.peerKey(B)).toBeUndefined();
    expect(m.registrationsDropped.idle).toBe(1);
    // The cap has room again: a new peer gets in, and the expired one registers afresh.
    expect(await login(m, C)).toBe('welcome');
    expect(await login(m, B)).toBe('NATPUSH_ERR_PEER_LIMIT');

    clock.advance(5 * DAY); // A idle 10 days + 1 ms now
    expect(store.expire(clock.now())).toBe(0);
    expect(store.knownPeers()).toEqual([C]);
    expect(await login(m, B)).toBe('welcome');
    await m.close();
    await store.close();
  });

  it('never expires a peer with a live session: it counts as seen at the sweep', async () => {
    const clock = new ManualClock();
    const store = make({ ttlMs: 10 * DAY }, clock);
    const m = mailbox(store, clock);
    expect(await login(m, A)).toBe('welcome');
    expect(await login(m, B)).toBe('welcome');
    store.isLive = (p) => p === A; // connected for the whole time, never logged in again
    clock.advance(30 * DAY);
    store.expire(clock.now());
    expect(store.knownPeers()).toEqual([A]);
    // Seen at that sweep: once the session ends, its idle time starts there.
    store.isLive = () => false;
    clock.advance(10 * DAY);
    store.expire(clock.now());
    expect(store.knownPeers()).toEqual([A]);
    clock.advance(1);
    store.expire(clock.now());
    expect(store.knownPeers()).toEqual([]);
    expect(m.isKnown(A)).toBe(false);
    await m.close();
    await store.close();
  });

  it('ttl 0 never expires anyone', async () => {
    const clock = new ManualClock();
    const store = make({ ttlMs: 0 }, clock);
    const m = mailbox(store, clock);
    expect(await login(m, A)).toBe('welcome');
    clock.advance(10_000 * DAY);
    store.expire(clock.now());
    expect(store.knownPeers()).toEqual([A]);
    await m.close();
    await store.close();
  });
});

describe('sqlite store: last_seen on disk', () => {
  it('a throttled login touch and the cap survive a restart', async () => {
    const clock = new ManualClock();
    const f = tmpFile();
    const o = { peers: { ttlMs: 10 * DAY, max: 2 }, clock, checkpointMs: 0 };
    const s1 = new SqliteStore(f, o);
    const m1 = mailbox(s1, clock);
    expect(await login(m1, A)).toBe('welcome');
    expect(await login(m1, B)).toBe('welcome');
    clock.advance(9 * DAY);
    expect(await login(m1, A)).toBe('welcome');
    await m1.close();
    await s1.close();

    const s2 = new SqliteStore(f, o);
    const m2 = mailbox(s2, clock);
    expect(await login(m2, C)).toBe('NATPUSH_ERR_PEER_LIMIT'); // the cap counts what is on disk
    clock.advance(DAY + 1);
    s2.expire(clock.now());
    expect(s2.knownPeers()).toEqual([A]); // A's touch was written, B's idle time ran out
    expect(await login(m2, C)).toBe('welcome');
    await m2.close();
    await s2.close();
  });

  it('migrates a schema-2 file: peers and mail kept, each peer given a full ttl from the upgrade', async () => {
    const f = tmpFile();
    const old = new Database(f);
    old.exec(`
      CREATE TABLE mailbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL,
        recipient TEXT NOT NULL, sender TEXT NOT NULL, topic TEXT NOT NULL, body TEXT NOT NULL,
        ts INTEGER NOT NULL, expires INTEGER NOT NULL, UNIQUE (recipient, id, sender));
      CREATE INDEX mailbox_recipient ON mailbox (recipient, seq);
      CREATE INDEX mailbox_expires ON mailbox (expires);
      CREATE TABLE peers (peer TEXT PRIMARY KEY, public_key TEXT NOT NULL, first_seen INTEGER NOT NULL);
      PRAGMA user_version = 2;`);
    // Registered long ago (first_seen 1): by first_seen alone both would be long idle.
    const addPeer = old.prepare('INSERT INTO peers VALUES (?, ?, 1)');
    addPeer.run(A, 'key-a');
    addPeer.run(B, 'key-b');
    old
      .prepare(
        'INSERT INTO mailbox (id, recipient, sender, topic, body, ts, expires) VALUES (?, ?, ?, ?, ?, ?, ?)',
      )
      .run('kept', B, A, '', 'from before', 1, 8_000_000_000_000);
    old.close();

    const clock = new ManualClock();
    const upgrade = clock.now();
    const o = { peers: { ttlMs: 10 * DAY }, clock, checkpointMs: 0 };
    const s = new SqliteStore(f, o);
    expect(s.peersSeen().sort()).toEqual([
      [A, upgrade],
      [B, upgrade],
    ]);
    expect(s.peerKey(B)).toBe('key-b');
    expect(s.pending(B, 0, 10, upgrade).map((x) => x.id)).toEqual(['kept']);
    expect(s.expire(upgrade + 10 * DAY - 1)).toBe(0);
    expect(s.knownPeers().sort()).toEqual([A, B]);
    await s.close();
    const v = new Database(f);
    expect(v.pragma('user_version', { simple: true })).toBe(3);
    v.close();
    // Opened again: nothing re-stamped (last_seen is the upgrade's, not this open's).
    clock.advance(DAY);
    const s2 = new SqliteStore(f, o);
    expect(s2.peersSeen()[0]![1]).toBe(upgrade);
    expect(s2.expire(upgrade + 10 * DAY + 1)).toBe(1);
    expect(s2.knownPeers()).toEqual([]);
    await s2.close();
  });
});
