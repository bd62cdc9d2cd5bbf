import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryStore } from '../../../src/signaling/store/memory-store.js';
import { SqliteStore } from '../../../src/signaling/store/sqlite-store.js';
import type { MailboxStore } from '../../../src/signaling/store/store.js';
import { notificationBytes } from '../../../src/signaling/store/usage.js';

const A = 'a'.repeat(32);
const B = 'b'.repeat(32);
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function sqlite(): MailboxStore {
  const d = mkdtempSync(join(tmpdir(), 'np-store-'));
  dirs.push(d);
  return new SqliteStore(join(d, 'm.sqlite'));
}

const n = (id: string, to = B, expires = 10_000, from = A) => ({
  id,
  from,
  to,
  topic: '',
  body: id,
  ts: 0,
  expires,
});

describe.each([
  ['memory', () => new MemoryStore()],
  ['sqlite', sqlite],
])('%s store', (_name, make) => {
  it('returns pending in insertion order after a cursor, skipping expired', async () => {
    const s = make();
    s.transaction(() => {
      for (const id of ['1', '2', '3']) s.insert(n(id));
      s.insert(n('old', B, 5));
      s.insert(n('4'));
      s.insert(n('x', A));
    });
    const all = s.pending(B, 0, 10, 100);
    expect(all.map((x) => x.id)).toEqual(['1', '2', '3', '4']);
    expect(s.pending(B, all[1]!.seq, 10, 100).map((x) => x.id)).toEqual(['3', '4']);
    expect(s.pending(B, 0, 2, 100).map((x) => x.id)).toEqual(['1', '2']);
    expect(s.depth(B)).toBe(5);
    expect(s.expire(100)).toBe(1);
    expect(s.depth(B)).toBe(4);
    expect(s.totalDepth()).toBe(5);
    await s.close();
  });

  it('a remove given the weight (delivery holds the notification) uncounts exactly what was counted', async () => {
    const s = make();
    const x = { ...n('w1'), topic: 'tópico', body: 'ünïcode body' };
    s.transaction(() => {
      s.insert(x);
      s.insert(n('w2'));
    });
    const before = { peerBytes: s.usage.peerBytes, peerCount: s.usage.peerCount };
    expect(s.transaction(() => s.remove(B, 'w1', A, notificationBytes(x)))).toEqual({
      id: 'w1',
      from: A,
      to: B,
    });
    expect(s.usage.peerCount).toBe(before.peerCount - 1);
    expect(s.usage.peerBytes).toBe(before.peerBytes - notificationBytes(x));
    // Gone: a second remove, with or without the weight, finds nothing and uncounts nothing.
    expect(s.remove(B, 'w1', A, notificationBytes(x))).toBeUndefined();
    expect(s.remove(B, 'w1', A)).toBeUndefined();
    // The same weight as the store's own reading of the row (the path without it).
    s.remove(B, 'w2', A);
    expect(s.usage.peerBytes).toBe(0);
    expect(s.totalDepth()).toBe(0);
    await s.close();
  });

  it('dedupes by (sender, recipient, id), removes only for the recipient', async () => {
    const s = make();
    expect(s.insert(n('1')).kind).toBe('inserted');
    expect(s.insert(n('1')).kind).toBe('duplicate');
    // The same id for another recipient, or from another sender, is another notification.
    expect(s.insert(n('1', A)).kind).toBe('inserted');
    expect(s.insert(n('1', B, 10_000, 'app:x')).kind).toBe('inserted');
    expect(s.find(A, B, '1')).toBeDefined();
    expect(s.find('app:x', A, '1')).toBeUndefined();
    expect(s.remove(B, '1', 'nobody')).toBeUndefined();
    expect(s.remove(B, '1', 'app:x')).toEqual({ id: '1', from: 'app:x', to: B });
    expect(s.remove(A, '1')).toEqual({ id: '1', from: A, to: A });
    expect(s.remove(B, '1')).toEqual({ id: '1', from: A, to: B });
    expect(s.depth(B)).toBe(0);
    // a seq is never reused after delete
    const r = s.insert(n('2'));
    expect(r.kind === 'inserted' && r.seq).toBeGreaterThan(1);
    await s.close();
  });

  it('remembers registered peers', async () => {
    const s = make();
    s.addPeer(A, 'pk', 1);
    s.addPeer(A, 'pk', 2);
    expect(s.knownPeers()).toEqual([A]);
    await s.close();
  });
});

describe('sqlite store durability', () => {
  it('keeps notifications, depth and peers across reopen', async () => {
    const d = mkdtempSync(join(tmpdir(), 'np-store-'));
    dirs.push(d);
    const f = join(d, 'm.sqlite');
    const s1 = new SqliteStore(f);
    s1.transaction(() => {
      s1.insert(n('1'));
      s1.insert(n('2'));
      s1.addPeer(B, 'pk', 1);
    });
    await s1.close();
    const s2 = new SqliteStore(f);
    expect(s2.pending(B, 0, 10, 0).map((x) => x.id)).toEqual(['1', '2']);
    expect(s2.depth(B)).toBe(2);
    expect(s2.knownPeers()).toEqual([B]);
    await s2.close();
  });
});

describe('sqlite store schema migration', () => {
  it('migrates a first-schema file (ids unique store-wide): rows, seqs and the seq high-water mark kept', async () => {
    const d = mkdtempSync(join(tmpdir(), 'np-store-'));
    dirs.push(d);
    const f = join(d, 'm.sqlite');
    const old = new Database(f);
    old.exec(`
      CREATE TABLE mailbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
        recipient TEXT NOT NULL, sender TEXT NOT NULL, topic TEXT NOT NULL, body TEXT NOT NULL,
        ts INTEGER NOT NULL, expires INTEGER NOT NULL);
      CREATE TABLE peers (peer TEXT PRIMARY KEY, public_key TEXT NOT NULL, first_seen INTEGER NOT NULL);`);
    const ins = old.prepare(
      'INSERT INTO mailbox (id, recipient, sender, topic, body, ts, expires) VALUES (?, ?, ?, ?, ?, 0, 10000)',
    );
    for (const id of ['1', '2', '3']) ins.run(id, B, A, '', id);
    old.prepare("DELETE FROM mailbox WHERE id = '3'").run(); // seq 3 used, then freed
    old.close();

    const s = new SqliteStore(f);
    expect(s.pending(B, 0, 10, 0).map((x) => [x.seq, x.id])).toEqual([
      [1, '1'],
      [2, '2'],
    ]);
    expect(s.depth(B)).toBe(2);
    // Now unique per (sender, recipient, id) only.
    expect(s.insert(n('1', B, 10_000, 'app:x')).kind).toBe('inserted');
    const r = s.insert(n('4'));
    expect(r.kind === 'inserted' && r.seq).toBeGreaterThan(4); // 3 is never reused
    await s.close();
    // Opening again is a no-op (already migrated).
    const s2 = new SqliteStore(f);
    expect(s2.depth(B)).toBe(4);
    await s2.close();
  });
});

describe('store usage (quotas)', () => {
  it('counts per recipient, peer sender and class; SQLite rebuilds the same counts and bytes at open', async () => {
    const d = mkdtempSync(join(tmpdir(), 'np-store-'));
    dirs.push(d);
    const f = join(d, 'm.sqlite');
    const s1 = new SqliteStore(f);
    const mem = new MemoryStore();
    for (const s of [s1, mem]) {
      s.transaction(() => {
        s.insert(n('1'));
        s.insert(n('2', B, 5));
        s.insert({ ...n('3', B, 10_000, 'app:x'), body: 'héllo' });
        s.insert(n('4', A));
      });
      s.remove(A, '4');
      s.expire(100);
    }
    for (const s of [s1, mem]) {
      expect([s.usage.depth(B), s.usage.peerDepth(B), s.usage.senderDepth(B, A)]).toEqual([
        2, 1, 1,
      ]);
      expect([s.usage.count, s.usage.peerCount]).toEqual([2, 1]);
    }
    expect(s1.usage.bytes).toBe(mem.usage.bytes);
    const bytes = s1.usage.bytes;
    await s1.close();
    const s2 = new SqliteStore(f);
    expect([s2.usage.count, s2.usage.bytes, s2.usage.senderDepth(B, A)]).toEqual([2, bytes, 1]);
    await s2.close();
  });

  it('refuses in order: store quota, mailbox, peer share, per-sender slots; apps only by the first two', () => {
    const u = new MemoryStore({
      quotas: { perPeerSenderSlots: 2, peerMailboxShare: 0.5, maxNotifications: 100 },
    }).usage;
    const peer = (from: string) => ({ from, to: B, bytes: 10 });
    u.add(peer(A), 2);
    expect(u.refusal(peer(A), 10)?.code).toBe('NATPUSH_ERR_SENDER_QUOTA');
    expect(u.refusal(peer('c'.repeat(32)), 10)).toBeUndefined();
    u.add(peer('c'.repeat(32)), 3);
    expect(u.refusal(peer('d'.repeat(32)), 10)?.code).toBe('NATPUSH_ERR_MAILBOX_FULL');
    expect(u.refusal(peer('app:k'), 10)).toBeUndefined();
    u.add(peer('app:k'), 5);
    expect(u.refusal(peer('app:k'), 10)?.code).toBe('NATPUSH_ERR_MAILBOX_FULL');
    expect(u.refusal({ from: 'app:k', to: A, bytes: 10 }, 10)).toBeUndefined();
  });
});

describe('failed transactions are all or nothing, counts included', () => {
  it.each([
    ['memory', () => new MemoryStore()],
    ['sqlite', sqlite],
  ])(
    '%s: a throw inside the transaction undoes inserts, removes and their counts',
    async (_n, make) => {
      const s = make();
      s.transaction(() => {
        for (const id of ['1', '2', '3']) s.insert(n(id));
      });
      const before = [s.usage.count, s.usage.bytes, s.usage.senderDepth(B, A)];
      expect(() =>
        s.transaction(() => {
          s.insert(n('4'));
          s.remove(B, '2', A);
          s.addPeer(B, 'pk', 1);
          throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
        }),
      ).toThrow(/disk is full/);
      expect([s.usage.count, s.usage.bytes, s.usage.senderDepth(B, A)]).toEqual(before);
      expect(s.pending(B, 0, 10, 0).map((x) => x.id)).toEqual(['1', '2', '3']);
      expect(s.knownPeers()).toEqual([]);
      await s.close();
    },
  );
});
