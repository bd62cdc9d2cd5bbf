/**
 * Issue 8, finding 9 (id squatting): notification ids are chosen by senders, so they may only be
 * unique per (sender, recipient). Attack: a registered peer sends to the victim first with the
 * id the app is known to use next (`build-1234`). The app's later POST with that id must be
 * stored (202, not 409), and the victim must get both — the peer's and the app's — each exactly
 * once (the receiver's dedupe must not swallow the app's as a redelivery of the peer's).
 *
 * The server starts on a data directory holding a mailbox from the first schema (ids unique
 * store-wide), so the schema migration runs on a real file with a notification in it.
 */
import { sealBody } from '../../src/peer/sealed-body.js';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Peer } from '../../src/peer/peer.js';
import { generateIdentity } from '../../src/signaling/identity.js';
import { RawClient } from '../integration/signaling/helpers.js';
import { appPost, Cleanup, LEAN, take } from './store-support.js';

const c = new Cleanup();
afterEach(() => c.run());

/** The mailbox schema natpush shipped before the fix (`id TEXT NOT NULL UNIQUE`). */
const V0_SCHEMA = `
CREATE TABLE mailbox (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, recipient TEXT NOT NULL,
  sender TEXT NOT NULL, topic TEXT NOT NULL, body TEXT NOT NULL, ts INTEGER NOT NULL,
  expires INTEGER NOT NULL);
CREATE INDEX mailbox_recipient ON mailbox (recipient, seq);
CREATE INDEX mailbox_expires ON mailbox (expires);
CREATE TABLE peers (peer TEXT PRIMARY KEY, public_key TEXT NOT NULL, first_seen INTEGER NOT NULL);
`;

describe('id squatting (finding 9)', () => {
  it("a peer that uses the app's next id first cannot block the app's POST, and the victim gets both exactly once", async () => {
    const dir = c.tmpDir('np-sec-squat-');
    const victim = generateIdentity();
    // A mailbox written by the old schema: the victim is known and has one old notification.
    const old = new Database(join(dir, 'mailbox.sqlite'));
    old.pragma('journal_mode = WAL');
    old.exec(V0_SCHEMA);
    old.prepare('INSERT INTO peers VALUES (?, ?, 1)').run(victim.peerId, victim.publicKey);
    old
      .prepare(
        'INSERT INTO mailbox (id, recipient, sender, topic, body, ts, expires) VALUES (?, ?, ?, ?, ?, ?, ?)',
      )
      .run(
        'old-1',
        victim.peerId,
        'app:legacy',
        '',
        'from before the upgrade',
        Date.now(),
        Date.now() + 3_600_000,
      );
    old.close();

    const s = await c.serve(dir, LEAN);

    // The attacker: any fresh key pair may register (open registration).
    const attacker = await RawClient.open(s.url);
    c.add(() => attacker.ws.terminate());
    const a = await attacker.login();
    // Peer-to-peer bodies are sealed to the recipient (g-peer: the Peer drops unsealed ones).
    const fake = sealBody(a, victim.publicKey, { id: 'build-1234', body: 'fake build' });
    attacker.send({
      type: 'notify',
      ref: 'r1',
      id: 'build-1234',
      to: victim.peerId,
      body: fake,
    });
    expect((await attacker.wait('accepted')).duplicate).toBe(false);
    // The same peer retrying its own id is still an idempotent duplicate.
    attacker.send({
      type: 'notify',
      ref: 'r2',
      id: 'build-1234',
      to: victim.peerId,
      body: fake,
    });
    expect((await attacker.wait('accepted')).duplicate).toBe(true);

    // The app's POST with the id the attacker used first is stored, not refused.
    const r = await appPost(s.url, victim.peerId, { id: 'build-1234', body: 'real build' });
    expect(r.status).toBe(202);
    expect(r.json.duplicate).toBe(false);
    // and the app's own retry is its duplicate
    expect(
      (await appPost(s.url, victim.peerId, { id: 'build-1234', body: 'real build' })).json
        .duplicate,
    ).toBe(true);

    // The victim comes online: three notifications, each exactly once.
    const v = await Peer.connect({ server: s.url, identity: victim });
    c.add(() => v.close());
    const got = await take(v, 3, 10_000);
    expect(got.map((n) => [n.id, n.from, n.body])).toEqual([
      ['old-1', 'app:legacy', 'from before the upgrade'],
      ['build-1234', a.peerId, 'fake build'],
      ['build-1234', expect.stringMatching(/^app:/), 'real build'],
    ]);
    // Everything was acked: the mailbox empties (no stray copy waits to be redelivered).
    await expect
      .poll(
        async () =>
          ((await (await fetch(`${s.url}/healthz`)).json()) as { mailbox: number }).mailbox,
      )
      .toBe(0);
    // And nothing comes again: a reconnect delivers nothing more.
    await v.close();
    const v2 = await Peer.connect({ server: s.url, identity: victim });
    c.add(() => v2.close());
    // (absence can only be checked for a while: 500 ms after the welcome)
    const more = await take(v2, 1, 500);
    expect(more).toEqual([]);
  });
});
