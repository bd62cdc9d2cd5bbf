/**
 * The fast path (src/signaling/early-accepts.ts) and SIGKILL. A notification for an online,
 * caught-up recipient is sent before it is written; `accepted` then comes either at the
 * recipient's ack (never written: it is in the recipient's hands) or after the write's fsync.
 * Whichever it was, a server SIGKILLed the moment the sender reads its last `accepted` must
 * lose nothing accepted: after a restart on the same SQLite file, every accepted notification
 * the recipient had not acked arrives.
 *
 * The server runs in a child process (the built dist, as the CLI tests use) with `earlyAckMs`
 * far above any ack delay, so which path each notification takes is decided by the test (ack,
 * no ack, recipient offline), not by the machine's load; the kill is sent from the `accepted`
 * frame's own handler, before the server can do anything more.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { generateIdentity, type Identity } from '../../../src/signaling/identity.js';
import { allow, drained, RawClient } from './helpers.js';
import { assertBuilt, REPO } from './natpush-process.js';

const EARLY_ACK_MS = 60_000;
const children: ChildProcess[] = [];
const sockets: RawClient[] = [];
const dirs: string[] = [];
// The children are awaited until they have exited before their directories go: removing a
// directory a live server still writes to can fail with ENOTEMPTY.
afterEach(async () => {
  for (const c of sockets.splice(0)) c.ws.terminate();
  for (const c of children.splice(0)) {
    if (c.exitCode !== null || c.signalCode !== null) continue;
    const exited = new Promise((resolve) => c.once('exit', resolve));
    c.kill('SIGKILL');
    await exited;
  }
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const dist = (p: string) => pathToFileURL(join(REPO, 'dist', p)).href;

/** A signaling server on `file` (SQLite) in a child process; resolves with it and its URL. */
async function serverChild(file: string): Promise<{ child: ChildProcess; url: string }> {
  assertBuilt();
  const script = `
    import { startSignalingServer } from '${dist('src/signaling/server.js')}';
    import { SqliteStore } from '${dist('src/signaling/store/sqlite-store.js')}';
    const s = await startSignalingServer({
      store: new SqliteStore(process.env.NP_FILE),
      timing: { earlyAckMs: ${EARLY_ACK_MS} },
    });
    console.log('listening ' + s.url);
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, NP_FILE: file },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening (\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`server child exited ${code}: ${out}`)));
  });
  return { child, url };
}

async function peer(url: string, id: Identity = generateIdentity()) {
  const c = await RawClient.open(url);
  sockets.push(c);
  await c.login(id);
  return { c, id };
}

/** Count `accepted` frames on `a`; SIGKILL `child` from the handler of the `n`th. */
function killAtAccepted(a: RawClient, child: ChildProcess, n: number): Promise<void> {
  let seen = 0;
  return new Promise((resolve) => {
    a.ws.on('message', (d) => {
      if ((JSON.parse(d.toString()) as { type: string }).type !== 'accepted') return;
      if (++seen === n) {
        child.kill('SIGKILL');
        child.once('exit', () => resolve());
      }
    });
  });
}

/** Ids delivered to `b` (in order); `ack` decides whether each is acked. */
function record(b: RawClient, ack: (id: string) => boolean): string[] {
  const got: string[] = [];
  b.ws.on('message', (d) => {
    const m = JSON.parse(d.toString()) as { type: string; n?: { id: string } };
    if (m.type !== 'deliver') return;
    got.push(m.n!.id);
    if (ack(m.n!.id)) b.send({ type: 'ack', ids: [m.n!.id] });
  });
  return got;
}

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1] ?? NaN);
}

describe('SIGKILL right after accepted, with the early-ack fast path', () => {
  it('acked before written, written at the session end, written for an offline peer: nothing accepted is lost', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'np-early-'));
    dirs.push(dir);
    const file = join(dir, 'mailbox.sqlite');
    const ids = (p: string) => Array.from({ length: 10 }, (_, i) => `${p}${i}`);
    const notify = (a: RawClient, to: string, list: string[]) => {
      for (const id of list) a.send({ type: 'notify', ref: id, id, to, body: id });
    };

    // 1. Recipient online and acking: every notification is accepted at its ack, none written.
    let s = await serverChild(file);
    let a = await peer(s.url);
    let b = await peer(s.url);
    const bid = b.id;
    await allow(b.c, [a.id.peerId]);
    const got1 = record(b.c, () => true);
    const killed1 = killAtAccepted(a.c, s.child, 10);
    // The counter is read before the last ack can be answered: the 10th notify goes after it.
    notify(a.c, bid.peerId, ids('x').slice(0, 9));
    for (const id of ids('x').slice(0, 9)) await a.c.wait('accepted', (m) => m.id === id);
    expect(await metric(s.url, 'natpush_notifications_unwritten_total')).toBe(9);
    notify(a.c, bid.peerId, ['x9']);
    await killed1;
    expect(got1).toEqual(ids('x')); // all ten were in the recipient's hands before `accepted`

    // 2. Recipient online, not acking: the notifications are sent but unwritten, so not accepted;
    //    its session ends, they are written (fsync) and accepted; SIGKILL at the last one.
    s = await serverChild(file);
    a = await peer(s.url, a.id);
    b = await peer(s.url, bid);
    await allow(b.c, [a.id.peerId]);
    const got2 = record(b.c, () => false);
    notify(a.c, bid.peerId, ids('y'));
    await drained(a.c);
    await expect.poll(() => got2.length, { timeout: 20_000 }).toBe(10);
    expect(a.c.frames.filter((m) => m.type === 'accepted')).toEqual([]); // sent, not accepted
    const killed2 = killAtAccepted(a.c, s.child, 10);
    b.c.ws.close();
    await killed2;

    // 3. Recipient offline: written as before the fast path; SIGKILL at the last `accepted`.
    s = await serverChild(file);
    a = await peer(s.url, a.id);
    const killed3 = killAtAccepted(a.c, s.child, 10);
    notify(a.c, bid.peerId, ids('z'));
    await killed3;

    // After the last restart the recipient gets exactly what it had not acked: y*, then z*.
    s = await serverChild(file);
    b = await peer(s.url, bid);
    const got4 = record(b.c, () => true);
    await expect.poll(() => got4.length, { timeout: 20_000 }).toBe(20);
    expect(got4).toEqual([...ids('y'), ...ids('z')]);
  }, 90_000);
});
