/**
 * Issue 8, finding 7 (data at rest): the mailbox holds notification bodies in plaintext, so the
 * data directory must be the server user's alone. Attack: a data dir that already existed with
 * 0755 (and a 0644 file in it), and a server started under umask 000 — the worst case for modes
 * left to open(2)/mkdir(2). After it has stored a notification, the dir must be 0700 and every
 * file in it (mailbox.sqlite, -wal, -shm, api-key, turn-secret) 0600.
 */
import { chmodSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { appPost, Cleanup, KEY, registeredPeer } from './store-support.js';

const c = new Cleanup();
afterEach(() => c.run());

const mode = (p: string) => (statSync(p).mode & 0o777).toString(8);

describe('data at rest (finding 7)', () => {
  it('a pre-existing 0755 data dir and 0644 files end up 0700 / 0600 under umask 000; bodies stay readable only by the owner', async () => {
    const dir = c.tmpDir('np-sec-rest-');
    chmodSync(dir, 0o755);
    // An API key left by an earlier run, world-readable (as an operator's `echo > api-key` makes it).
    writeFileSync(join(dir, 'api-key'), KEY + '\n');
    chmodSync(join(dir, 'api-key'), 0o644);

    // The child inherits the umask: 000 would make every mode-less create 0666 / 0777.
    const old = process.umask(0);
    let s;
    try {
      // With the relay: it writes turn-secret into the data dir too.
      s = await c.serve(dir);
    } finally {
      process.umask(old);
    }
    const b = await registeredPeer(s.url);
    const marker = 'secret-body-' + Date.now();
    expect((await appPost(s.url, b.peerId, { body: marker })).status).toBe(202);

    const files = readdirSync(dir).sort();
    expect(files).toEqual(
      expect.arrayContaining([
        'api-key',
        'mailbox.sqlite',
        'mailbox.sqlite-shm',
        'mailbox.sqlite-wal',
        'turn-secret',
      ]),
    );
    expect(mode(dir)).toBe('700');
    for (const f of files) expect([f, mode(join(dir, f))]).toEqual([f, '600']);

    // What the README tells operators: the body is on disk in plaintext (WAL or database).
    const onDisk = ['mailbox.sqlite', 'mailbox.sqlite-wal']
      .map((f) => readFileSync(join(dir, f)).toString('latin1'))
      .join('');
    expect(onDisk).toContain(marker);

    // A clean shutdown (checkpoint, WAL removed or truncated) keeps the modes.
    s.p.child.kill('SIGTERM');
    expect((await s.p.exited).code).toBe(0);
    expect(mode(dir)).toBe('700');
    for (const f of readdirSync(dir)) expect([f, mode(join(dir, f))]).toEqual([f, '600']);
  });
});
