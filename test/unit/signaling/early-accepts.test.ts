/**
 * The fast path of the group commit (early-accepts.ts): a notification for a recipient online
 * and caught up is sent before it is written; acked within `earlyAckMs` it is never written and
 * accepted at the ack; otherwise it is written as usual. Mailbox order (per-sender order) holds
 * across the two paths and across reconnects.
 */
import { describe, expect, it } from 'vitest';
import {
  B,
  C,
  RecordingSession as Session,
  immediate,
  mailboxRig,
  type MailboxRig,
} from '../../support/mailbox-rig.js';

const EARLY_MS = 10;

const setup = (window = 4) =>
  mailboxRig({ window, earlyAckMs: EARLY_MS, retryAfterMs: 5000, register: [B, C] });

/** Attach `s` and let the registration's batch commit, so the route is caught up. */
async function online(t: MailboxRig, s: Session): Promise<void> {
  await t.clock.advanceAsync(1);
  t.delivery.attach(s);
}

describe('early accepts (the fast path of the group commit)', () => {
  it('sends before the write; an ack within earlyAckMs means it is never written, accepted at the ack, delivered after accepted', async () => {
    const t = setup();
    const s = new Session(B);
    await online(t, s);
    const p = t.accept('1');
    expect(s.got.map((n) => n.id)).toEqual(['1']); // no clock step: before any commit
    t.delivery.ack(B, ['1'], 'websocket');
    await expect(p).resolves.toMatchObject({ duplicate: false });
    await immediate();
    expect(t.order).toEqual(['accepted 1', 'delivered 1']);
    await t.clock.advanceAsync(EARLY_MS * 2);
    expect(t.store.inserted).toEqual([]);
    expect(t.store.depth(B)).toBe(0);
    expect(t.mailbox.unwritten).toBe(1);
  });

  it('unacked after earlyAckMs: written, accepted after the commit, not sent twice, removed by the later ack', async () => {
    const t = setup();
    const s = new Session(B);
    await online(t, s);
    let accepted = false;
    void t.accept('1').then(() => (accepted = true));
    await t.clock.advanceAsync(EARLY_MS - 1);
    expect([accepted, t.store.inserted]).toEqual([false, []]);
    await t.clock.advanceAsync(2);
    expect([accepted, t.store.inserted, t.store.depth(B)]).toEqual([true, ['1'], 1]);
    expect(s.got.map((n) => n.id)).toEqual(['1']);
    t.delivery.ack(B, ['1'], 'websocket');
    await t.clock.advanceAsync(1);
    expect(t.store.depth(B)).toBe(0);
    expect(t.order).toEqual(['accepted 1', 'delivered 1']);
    expect(t.mailbox.unwritten).toBe(0);
  });

  it('a full window queues the rest; the early ones are written before them, and a new session gets all in order', async () => {
    const t = setup(2);
    const s = new Session(B);
    await online(t, s);
    const ps = ['1', '2', '3', '4'].map((id) => t.accept(id));
    expect(s.got.map((n) => n.id)).toEqual(['1', '2']); // early
    await t.clock.advanceAsync(1); // the batch of 3, 4 commits, with 1, 2 first
    expect(t.store.inserted).toEqual(['1', '2', '3', '4']);
    await Promise.all(ps);
    // The session drops; a new one reads the mailbox from the start, in mailbox order.
    const s2 = new Session(B);
    t.delivery.attach(s2);
    expect(s2.got.map((n) => n.id)).toEqual(['1', '2']);
    t.delivery.ack(B, ['1', '2'], 'websocket');
    expect(s2.got.map((n) => n.id)).toEqual(['1', '2', '3', '4']);
  });

  it('while a batch for the recipient is queued, a later notification waits for it (no overtaking)', async () => {
    const t = setup(2);
    const s = new Session(B);
    await online(t, s);
    void t.accept('1');
    void t.accept('2');
    void t.accept('3'); // window full: queued for the batch
    t.delivery.ack(B, ['1'], 'websocket'); // room again, but 3 is queued: 4 must not overtake it
    void t.accept('4');
    expect(s.got.map((n) => n.id)).toEqual(['1', '2']);
    await t.clock.advanceAsync(1);
    expect(s.got.map((n) => n.id)).toEqual(['1', '2', '3']);
    t.delivery.ack(B, ['2'], 'websocket');
    expect(s.got.map((n) => n.id)).toEqual(['1', '2', '3', '4']);
    expect(t.store.inserted).toEqual(['2', '3', '4']); // 1 was acked before it was written
  });

  it('the session ends with early ones unacked: they are written at once, and the next session gets them', async () => {
    const t = setup();
    const s = new Session(B);
    await online(t, s);
    const ps = ['1', '2'].map((id) => t.accept(id));
    t.delivery.detach(s);
    await t.clock.advanceAsync(1); // the next batch, not earlyAckMs later
    expect(t.store.inserted).toEqual(['1', '2']);
    await Promise.all(ps);
    const s2 = new Session(B);
    t.delivery.attach(s2);
    expect(s2.got.map((n) => n.id)).toEqual(['1', '2']);
  });

  it('due but still queued behind a running fsync: an ack then still cancels the write', async () => {
    const t = setup();
    const s = new Session(B);
    await online(t, s);
    t.store.hold();
    const offline = t.accept('c1', C); // C is offline: written, and its fsync is held
    await t.clock.advanceAsync(1);
    expect(t.store.inserted).toEqual(['c1']);
    const p = t.accept('1');
    expect(s.got.map((n) => n.id)).toEqual(['1']);
    await t.clock.advanceAsync(EARLY_MS + 1); // due: queued, waiting for the fsync
    expect(t.store.inserted).toEqual(['c1']);
    t.delivery.ack(B, ['1'], 'websocket');
    await expect(p).resolves.toMatchObject({ duplicate: false });
    await t.clock.advanceAsync(1); // an ack-only commit may run during the fsync
    t.store.release();
    await offline;
    await t.clock.advanceAsync(1);
    expect(t.store.inserted).toEqual(['c1']); // 1 was never written
    expect(t.store.depth(B)).toBe(0);
    await immediate();
    expect(t.order).toContain('delivered 1');
  });

  it('due ones queued behind a running fsync keep accept order, and do not hold back the next early one', async () => {
    const t = setup();
    const s = new Session(B);
    await online(t, s);
    t.store.hold();
    const offline = t.accept('c1', C);
    await t.clock.advanceAsync(1); // c1 written; its fsync held: batches wait for it
    void t.accept('1');
    await t.clock.advanceAsync(5);
    void t.accept('2');
    await t.clock.advanceAsync(EARLY_MS); // 1 due, then 2 due: both queued
    void t.accept('3'); // still sent at once: 1 and 2 were sent before it
    expect(s.got.map((n) => n.id)).toEqual(['1', '2', '3']);
    t.store.release();
    await offline;
    await t.clock.advanceAsync(1);
    expect(t.store.inserted).toEqual(['c1', '1', '2']);
    await t.clock.advanceAsync(EARLY_MS);
    expect(t.store.inserted).toEqual(['c1', '1', '2', '3']);
    const order = t.store.pending(B, 0, 10, t.clock.now()).map((n) => n.id);
    expect(order).toEqual(['1', '2', '3']); // seqs in the order they were sent
  });

  it('close writes early ones that are still unacked', async () => {
    const t = setup();
    await online(t, new Session(B));
    const p = t.accept('1');
    await t.mailbox.close();
    await expect(p).resolves.toMatchObject({ duplicate: false });
    expect(t.store.inserted).toEqual(['1']);
  });
});
