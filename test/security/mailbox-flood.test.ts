/**
 * Issue 8, finding 4 (mailbox flooding): one peer filled an offline victim's 10,000-slot mailbox
 * in 14 s, and the app's own POSTs then got 507 for up to the 7-day TTL.
 *
 * 1. Against `natpush serve` with its default quotas (real SQLite): one attacker key pair
 *    floods the offline victim — it stops at STORE_QUOTAS.perPeerSenderSlots
 *    (NATPUSH_ERR_SENDER_QUOTA); 50 key pairs together fill the peers' half of the mailbox
 *    (then NATPUSH_ERR_MAILBOX_FULL); the app's POSTs are still stored, and the victim gets them
 *    exactly once when it comes back.
 * 2. Against a real signaling server with small store-wide quotas: peers with fresh keys fill
 *    their share of the store (count, and bytes with maximum-size bodies) and get
 *    NATPUSH_ERR_STORE_QUOTA; the app still has room, and gets 507 STORE_QUOTA only at the
 *    store's full quota.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Peer } from '../../src/peer/peer.js';
import { LIMITS, STORE_QUOTAS } from '../../src/signaling/constants.js';
import { startSignalingServer } from '../../src/signaling/server.js';
import { SqliteStore } from '../../src/signaling/store/sqlite-store.js';
import { RawClient } from '../integration/signaling/helpers.js';
import { appPost, Cleanup, KEY, LEAN, registeredPeer, take } from './store-support.js';

const c = new Cleanup();
afterEach(() => c.run());

/** A fresh key pair that logs in over WebSocket (registration is open). */
async function attacker(url: string): Promise<RawClient> {
  const a = await RawClient.open(url);
  c.add(() => a.ws.terminate());
  await a.login();
  return a;
}

/**
 * Send `n` notifies to `to` and collect the outcome of each: 'ok' or the error code. Frames go
 * out in chunks below the rate-limit burst, each chunk answered before the next.
 */
async function flood(
  a: RawClient,
  to: string,
  n: number,
  prefix: string,
  body = 'spam',
): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (let start = 0; start < n; start += 500) {
    const refs: string[] = [];
    for (let i = start; i < Math.min(n, start + 500); i++) {
      const ref = `${prefix}-${i}`;
      refs.push(ref);
      a.send({ type: 'notify', ref, id: ref, to, body });
    }
    const answers = await Promise.all(
      refs.map((ref) =>
        Promise.race([
          a.wait('accepted', (m) => m.ref === ref).then(() => 'ok'),
          a.wait('error', (m) => m.ref === ref).then((e) => e.code),
        ]),
      ),
    );
    for (const k of answers) out.set(k, (out.get(k) ?? 0) + 1);
  }
  return out;
}

describe('mailbox flooding (finding 4)', () => {
  it('natpush serve, default quotas: one key pair stops at its per-sender slots, many stop at the peer share, the app is never starved', async () => {
    expect(STORE_QUOTAS.perPeerSenderSlots * 10).toBeLessThanOrEqual(LIMITS.mailboxQuota);
    const s = await c.serve(c.tmpDir('np-sec-flood-'), LEAN);
    const victim = await registeredPeer(s.url);
    const per = STORE_QUOTAS.perPeerSenderSlots;
    const peerSlots = LIMITS.mailboxQuota * STORE_QUOTAS.peerMailboxShare;

    // One key pair: `per` stored, the rest refused with SENDER_QUOTA (507 class).
    const first = await attacker(s.url);
    expect(Object.fromEntries(await flood(first, victim.peerId, per + 50, 'a0'))).toEqual({
      ok: per,
      NATPUSH_ERR_SENDER_QUOTA: 50,
    });

    // Enough fresh key pairs to fill the peers' share of the mailbox, and one more.
    const outcomes = new Map<string, number>();
    for (let k = 1; k <= peerSlots / per; k++) {
      const a = await attacker(s.url);
      for (const [code, n] of await flood(a, victim.peerId, per, `a${k}`))
        outcomes.set(code, (outcomes.get(code) ?? 0) + n);
      a.ws.terminate();
    }
    expect(Object.fromEntries(outcomes)).toEqual({
      ok: peerSlots - per,
      NATPUSH_ERR_MAILBOX_FULL: per,
    });

    // The app's own notifications are still stored: API-key traffic has its own room.
    const appIds: string[] = [];
    for (let i = 0; i < 20; i++) {
      const r = await appPost(s.url, victim.peerId, { id: `app-${i}`, body: `real ${i}` });
      expect([r.status, r.json.error?.code]).toEqual([202, undefined]);
      appIds.push(`app-${i}`);
    }
    const info = await fetch(`${s.url}/v1/peers/${victim.peerId}`, {
      headers: { authorization: `Bearer ${KEY}` },
    });
    expect(((await info.json()) as { mailbox: number }).mailbox).toBe(peerSlots + 20);

    // The victim comes back and gets everything: the app's notifications exactly once; the
    // peers' spam (not sealed to the victim, g-peer) is dropped by its Peer and counted.
    const v = await Peer.connect({ server: s.url, identity: victim });
    c.add(() => v.close());
    const got = await take(v, 20, 45_000);
    expect(got.filter((n) => n.from.startsWith('app:')).map((n) => n.id)).toEqual(appIds);
    await expect
      .poll(() => v.stats.dropped.unsealed, { timeout: 45_000, interval: 100 })
      .toBe(peerSlots);
  }, 120_000);

  it('store-wide quota: peers with fresh keys fill at most their share of the count, then 507 STORE_QUOTA; the app keeps its room', async () => {
    const dir = c.tmpDir('np-sec-flood-store-');
    const store = new SqliteStore(join(dir, 'mailbox.sqlite'), {
      quotas: { maxNotifications: 60, maxBytes: 120 * 1024, perPeerSenderSlots: 10 },
    });
    const s = await startSignalingServer({ apiKeys: [KEY], store });
    c.add(() => s.close());
    const victims = await Promise.all(Array.from({ length: 4 }, () => registeredPeer(s.url)));

    // Count: peers may hold 30 of the store's 60; each key pair 10 per recipient.
    const results = new Map<string, number>();
    for (const [k, v] of victims.entries()) {
      const a = await attacker(s.url);
      for (const [code, n] of await flood(a, v.peerId, 10, `c${k}`))
        results.set(code, (results.get(code) ?? 0) + n);
    }
    expect(Object.fromEntries(results)).toEqual({ ok: 30, NATPUSH_ERR_STORE_QUOTA: 10 });

    // The app fills the rest of the store, then gets a clear 507 STORE_QUOTA.
    for (let i = 0; i < 30; i++)
      expect((await appPost(s.url, victims[i % 4]!.peerId, { body: `app ${i}` })).status).toBe(202);
    const full = await appPost(s.url, victims[0]!.peerId, { body: 'one too many' });
    expect(full.status).toBe(507);
    expect(full.json.error.code).toBe('NATPUSH_ERR_STORE_QUOTA');
  });

  it('store-wide byte quota: maximum-size bodies from peers stop at the peer share of the bytes', async () => {
    const dir = c.tmpDir('np-sec-flood-bytes-');
    const store = new SqliteStore(join(dir, 'mailbox.sqlite'), {
      quotas: { maxBytes: 200 * 1024 },
    });
    const s = await startSignalingServer({ apiKeys: [KEY], store });
    c.add(() => s.close());
    const victim = await registeredPeer(s.url);
    const a = await attacker(s.url);
    const big = 'x'.repeat(LIMITS.maxBodyBytes);
    // 100 KiB for peers: 6 bodies of 16 KiB (+ envelope) fit, the 7th does not.
    expect(Object.fromEntries(await flood(a, victim.peerId, 8, 'b', big))).toEqual({
      ok: 6,
      NATPUSH_ERR_STORE_QUOTA: 2,
    });
    // The app's half is untouched.
    for (let i = 0; i < 6; i++)
      expect((await appPost(s.url, victim.peerId, { body: big })).status).toBe(202);
    expect(store.usage.bytes).toBeLessThanOrEqual(200 * 1024);
  });
});
