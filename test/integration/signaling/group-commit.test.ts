/**
 * Delivery beside the fsync (mailbox.ts #flushLocal): a notification goes to its recipient as
 * soon as its batch is committed, while the fsync runs; `accepted` still waits for the fsync,
 * and the sender never hears `delivered` before `accepted`. The store's fsync is held by the
 * test (HeldSyncStore), and absence is proved by a ping's pong (helpers.ts `drained`), not by
 * a sleep.
 *
 * The fast path (early-accepts.ts) sends before the write and, when the recipient acks in time,
 * never writes: the first test turns it off to see the write path; the second sees it with an
 * `earlyAckMs` far above any ack delay, so the path taken does not depend on the machine's load.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { allow, drained, HeldSyncStore, Tracker } from './helpers.js';

const t = new Tracker();
afterEach(() => t.cleanup());

/**
 * serve on a HeldSyncStore (not holding yet) with `earlyAckMs`; raw clients a and b logged in,
 * b allowing a; `order` lists the types of the frames a gets.
 */
async function heldWorld(earlyAckMs: number) {
  const store = new HeldSyncStore();
  store.holding = false;
  t.closers.push(() => store.release());
  const s = await t.server({ store, timing: { earlyAckMs } });
  const a = await t.raw(s);
  const b = await t.raw(s);
  const aid = await a.login();
  const bid = await b.login();
  await allow(b, [aid.peerId]);
  const order: string[] = [];
  a.ws.on('message', (d) => order.push((JSON.parse(d.toString()) as { type: string }).type));
  return { store, s, a, b, bid, order };
}

describe('group commit and delivery', () => {
  it('delivers at the commit; accepted after the fsync; delivered only after accepted', async () => {
    const { store, a, b, bid, order } = await heldWorld(0);

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

  it('fast path: sent before the write; acked in time, accepted and delivered with no write and no fsync', async () => {
    const { store, s, a, b, bid, order } = await heldWorld(60_000);

    store.holding = true; // an fsync would now hang until released: none may be needed
    a.send({ type: 'notify', ref: 'r1', id: 'n1', to: bid.peerId, body: 'hi' });
    const d = await b.wait('deliver');
    expect(d.n.id).toBe('n1');
    await drained(a);
    expect(order).toEqual([]); // not accepted before the ack: it is not written
    b.send({ type: 'ack', ids: ['n1'] });
    await a.wait('delivered');
    expect(order).toEqual(['accepted', 'delivered']);
    expect(store.depth(bid.peerId)).toBe(0);
    expect(s.context.mailbox.unwritten).toBe(1);
  });
});
