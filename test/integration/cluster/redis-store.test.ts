/**
 * The Redis mailbox answers like the embedded one: the same sequence of notifications, acks and
 * retries through the same Mailbox gives the same outcomes — stored, duplicate, and each quota
 * refusal with the same stable code (store/usage.ts) — on MemoryStore and on RedisStore.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startClusterNode, type ClusterNode } from '../../../src/cluster/cluster-node.js';
import { Mailbox } from '../../../src/signaling/mailbox.js';
import type { Notification } from '../../../src/signaling/protocol.js';
import { MemoryStore } from '../../../src/signaling/store/memory-store.js';
import { RedisStore } from '../../../src/signaling/store/redis-store.js';
import type { AnyMailboxStore } from '../../../src/signaling/store/store.js';
import { systemClock } from '../../../src/util/clock.js';
import { silentLogger } from '../../../src/util/logger.js';
import { startRedis, type TestRedis } from './redis-server.js';
import { hookMs, teardown } from './teardown.js';

const QUOTAS = {
  perPeerSenderSlots: 3,
  peerMailboxShare: 0.5,
  maxNotifications: 12,
  maxBytes: 1_000_000,
  peerStoreShare: 0.5,
};
const MAILBOX_QUOTA = 8;
const R = 'r'.repeat(32);
const R2 = 's'.repeat(32);
const P1 = 'a'.repeat(32);
const P2 = 'b'.repeat(32);

let redis: TestRedis;
let node: ClusterNode;

beforeAll(async () => {
  redis = await startRedis();
  node = await startClusterNode({ redisUrl: redis.url });
}, 60_000);

const STEPS = [
  ['cluster node', () => node?.close()],
  ['redis-server', () => redis?.stop()],
] as const;
afterAll(() => teardown(STEPS), hookMs(STEPS.length));

function n(from: string, to: string, id: string): Notification {
  const ts = Date.now();
  return { id, from, to, topic: '', body: `body of ${id}`, ts, expires: ts + 60_000 };
}

/** The script: every step's outcome as a string. */
async function run(store: AnyMailboxStore): Promise<string[]> {
  const m = new Mailbox({
    store,
    clock: systemClock,
    logger: silentLogger,
    quota: MAILBOX_QUOTA,
    maxDelayMs: 1,
  });
  m.register(R, 'key-r');
  m.register(R2, 'key-r2');
  m.flush();
  const out: string[] = [];
  const accept = async (x: Notification) => {
    try {
      const r = await m.accept(x);
      out.push(`${x.id}: ${r.duplicate ? 'duplicate' : 'stored'}`);
    } catch (err) {
      out.push(`${x.id}: ${(err as { code?: string }).code}`);
    }
  };
  // One peer: 3 slots, the 4th is its SENDER_QUOTA; a retry is a duplicate, not a refusal.
  for (let i = 1; i <= 4; i++) await accept(n(P1, R, `p1-${i}`));
  await accept(n(P1, R, 'p1-1'));
  // Peers together hold half of the 8: P2 gets one, then the peer share is full.
  await accept(n(P2, R, 'p2-1'));
  await accept(n(P2, R, 'p2-2'));
  // The app has the other half, then the mailbox is full for everyone.
  for (let i = 1; i <= 5; i++) await accept(n('app:x', R, `a-${i}`));
  // An ack frees a peer slot: P1 may send again; the acked id is new again once gone.
  m.ack(R, [{ id: 'p1-1', from: P1 }]);
  m.flush();
  await new Promise((r) => setTimeout(r, 50));
  await accept(n(P1, R, 'p1-1'));
  // The store-wide cap (12; peers 6): R2's mailbox is empty but the store is not.
  for (let i = 1; i <= 5; i++) await accept(n('app:x', R2, `s-${i}`));
  await m.close();
  return out;
}

describe('Redis mailbox vs the embedded one', () => {
  it('gives the same outcomes and the same stable codes', async () => {
    const memory = await run(new MemoryStore({ quotas: QUOTAS }));
    const onRedis = await run(await RedisStore.open({ cluster: node, quotas: QUOTAS }));
    expect(memory).toContain('p1-4: NATPUSH_ERR_SENDER_QUOTA');
    expect(memory).toContain('p2-2: NATPUSH_ERR_MAILBOX_FULL');
    expect(memory).toContain('a-5: NATPUSH_ERR_MAILBOX_FULL');
    expect(memory.some((x) => x.endsWith('NATPUSH_ERR_STORE_QUOTA'))).toBe(true);
    expect(onRedis).toEqual(memory);
  });

  it('refuses a recipient that never registered with UNKNOWN_PEER', async () => {
    const store = await RedisStore.open({ cluster: node });
    const m = new Mailbox({
      store,
      clock: systemClock,
      logger: silentLogger,
      quota: 8,
      maxDelayMs: 1,
    });
    await expect(m.accept(n(P1, 'z'.repeat(32), 'x'))).rejects.toMatchObject({
      code: 'NATPUSH_ERR_UNKNOWN_PEER',
    });
    await m.close();
  });
});
