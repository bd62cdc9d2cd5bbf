/**
 * Registration flood: anyone may register a fresh Ed25519 key pair (open registration), and each
 * one used to cost the server a `peers` row on disk and an entry in memory forever. A real
 * `natpush serve --max-peers 3` child (built CLI, real SQLite): once three peers registered, a
 * fourth key pair is refused NATPUSH_ERR_PEER_LIMIT over WebSocket and over HTTP (507), nothing
 * of it is stored, the three registered peers still log in — and all of that holds after a
 * restart on the same data directory (the cap counts what is on disk).
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { generateIdentity, signChallenge } from '../../src/signaling/identity.js';
import { expectFatal, post, RawClient } from '../integration/signaling/helpers.js';
import { Cleanup, LEAN } from './store-support.js';

const c = new Cleanup();
afterEach(() => c.run());

async function wsLogin(url: string, id = generateIdentity()): Promise<string> {
  const ws = await RawClient.open(url);
  c.add(() => ws.ws.terminate());
  ws.send({ type: 'hello', v: 1, peer: id.peerId, publicKey: id.publicKey });
  const ch = await ws.wait('challenge');
  ws.send({ type: 'auth', nonce: ch.nonce, signature: signChallenge(id, ch) });
  const m = await ws.wait('welcome').then(
    () => 'welcome',
    async () => (await expectFatal(ws)).code,
  );
  ws.ws.terminate();
  return m;
}

describe('registration flood (bounded peers)', () => {
  it('a new key pair at --max-peers is refused PEER_LIMIT over WebSocket and HTTP; registered peers still get in, also after a restart', async () => {
    const dir = c.tmpDir('np-sec-peers-');
    const s = await c.serve(dir, [...LEAN, '--max-peers', '3']);
    const peers = [generateIdentity(), generateIdentity(), generateIdentity()];
    for (const p of peers) expect(await wsLogin(s.url, p)).toBe('welcome');

    const flood = generateIdentity();
    expect(await wsLogin(s.url, flood)).toBe('NATPUSH_ERR_PEER_LIMIT');
    // The HTTP login refuses the same way.
    const ch = await post(`${s.url}/v1/challenge`, {
      peer: flood.peerId,
      publicKey: flood.publicKey,
    });
    const r = await post(`${s.url}/v1/session`, {
      peer: flood.peerId,
      publicKey: flood.publicKey,
      nonce: ch.json.nonce,
      signature: signChallenge(flood, ch.json),
    });
    expect(r.status).toBe(507);
    expect(r.json.error.code).toBe('NATPUSH_ERR_PEER_LIMIT');
    for (const p of peers) expect(await wsLogin(s.url, p)).toBe('welcome');
    // Counted for the operator: both refusals, by reason.
    const metrics = await (await fetch(`${s.url}/metrics`)).text();
    expect(metrics).toMatch(/^natpush_registrations_dropped_total\{reason="peer-limit"\} 2$/m);
    await s.p.kill();

    const db = new Database(join(dir, 'mailbox.sqlite'));
    expect((db.prepare('SELECT peer FROM peers').all() as { peer: string }[]).length).toBe(3);
    db.close();

    const s2 = await c.serve(dir, [...LEAN, '--max-peers', '3']);
    expect(await wsLogin(s2.url, generateIdentity())).toBe('NATPUSH_ERR_PEER_LIMIT');
    expect(await wsLogin(s2.url, peers[1])).toBe('welcome');
  });
});
