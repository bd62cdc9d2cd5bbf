import { describe, expect, it } from 'vitest';
import { STORE_RECOVERY } from '../../../src/signaling/constants.js';
import { Mailbox } from '../../../src/signaling/mailbox.js';
import { MemoryStore } from '../../../src/signaling/store/memory-store.js';
import { ManualClock } from '../../../src/util/clock.js';
import { silentLogger } from '../../../src/util/logger.js';

const A = 'a'.repeat(32);
const B = 'b'.repeat(32);

/** A store whose commits fail while `failing` (as SQLite does on a full disk). */
class FlakyStore extends MemoryStore {
  failing = true;
  override transaction<T>(fn: () => T): T {
    return super.transaction(() => {
      const r = fn();
      if (this.failing)
        throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
      return r;
    });
  }
}

describe('mailbox group commit when the store fails', () => {
  it('refuses the batch with STORE_DISK_FULL, keeps counts exact, retries registrations and acks until the store works', async () => {
    const clock = new ManualClock(0);
    const store = new FlakyStore();
    store.failing = false;
    const mailbox = new Mailbox({ store, clock, logger: silentLogger, quota: 10, maxDelayMs: 1 });
    const n = (id: string) => ({ id, from: A, to: B, topic: '', body: id, ts: 0, expires: 1e9 });
    const stored = mailbox.accept(n('kept'));
    await clock.advanceAsync(1);
    await stored;

    store.failing = true;
    mailbox.register(B, 'pk');
    mailbox.ack(B, ['kept']);
    const refused = mailbox.accept(n('x'));
    await clock.advanceAsync(1);
    await expect(refused).rejects.toMatchObject({ code: 'NATPUSH_ERR_STORE_DISK_FULL' });
    expect(mailbox.failures.commit).toBe(1);
    expect([store.depth(B), store.knownPeers()]).toEqual([1, []]);
    expect(mailbox.isKnown(B)).toBe(true);

    await clock.advanceAsync(STORE_RECOVERY.retryMs); // still failing: retried, kept again
    expect(mailbox.failures.commit).toBe(2);
    store.failing = false;
    await clock.advanceAsync(STORE_RECOVERY.retryMs);
    expect([store.depth(B), store.knownPeers()]).toEqual([0, [B]]);
    await mailbox.close();
  });
});
