/**
 * Delivery beside the fsync (mailbox.ts #flushLocal): a notification goes to its recipient as
 * soon as its batch is committed, while the fsync runs; `accepted` still waits for the fsync,
 * and the sender never hears `delivered` before `accepted`. The store's fsync is held by the
 * test (HeldSyncStore), and absence is proved by a ping's pong (helpers.ts `drained`), not by
 * a sleep.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { allow, drained, HeldSyncStore, Tracker } from './helpers.js';

const t = new Tracker();
afterEach(() => t.cleanup());

describe('group commit and delivery', () => {
  it('delivers at the commit; accepted after the fsync; delivered only after accepted', async () => {
    const store = new HeldSyncStore();
    store.holding = false;
    t.closers.push(() => store.release());
    const s = await t.server({ store });
    const a = await t.raw(s);
    const b = await t.raw(s);
    const aid = await a.login();
    const bid = await b.login();
    await allow(b, [aid.peerId]);
    const order: string[] = [];
    a.ws.on('message', (d) => order.push((JSON.parse(d.toString()) as { type: string }).type));

    store.holding = true;
    a.send({ type: 'notify', ref: 'r1', id: 'n1', to: bid.peerId, body: 'hi' });
    await store.held();
    // The recipient has it while the fsync runs, and acks it.
    const d = await b.wait('deliver');
    expect(d.n.id).toBe('n1');
    b.send({ type: 'ack', ids: ['n1'] });
    // The ack is committed (no fsync needed for it): the row is gone from the store.
    await vi.waitFor(() => expect(store.depth(bid.peerId)).toBe(0), { timeout: 20_000 });
    await drained(a);
    expect(order).toEqual([]); // neither accepted (no fsync yet) nor delivered (held for it)

    store.release();
    await a.wait('delivered');
    expect(order).toEqual(['accepted', 'delivered']);
  });
});
