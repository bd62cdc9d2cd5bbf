/**
 * `delivered` while an fsync runs (mailbox-fsync.ts): held only for notifications that
 * fsync is making durable — a sender never hears `delivered` before `accepted` — and sent at
 * once for those an earlier, finished fsync made durable (accepted already).
 */
import { describe, expect, it } from 'vitest';
import {
  B,
  RecordingSession as Session,
  immediate,
  mailboxRig,
} from '../../support/mailbox-rig.js';

describe('Mailbox: delivered during an fsync', () => {
  it('goes at once for a notification an earlier fsync made durable, waits for one in this fsync', async () => {
    const { clock, store, delivery, order, accept } = mailboxRig();
    const s = new Session(B);
    delivery.attach(s);
    const first = accept('n1');
    await clock.advanceAsync(1);
    await first;
    expect(order).toEqual(['accepted n1']);
    store.hold(); // the next batch's fsync runs until release()
    const second = accept('n2');
    await clock.advanceAsync(1);
    expect(s.got.map((n) => n.id)).toEqual(['n1', 'n2']); // delivered at the commit
    // Both acked while n2's fsync runs.
    delivery.ack(B, ['n1', 'n2'], 'websocket');
    await clock.advanceAsync(1);
    await immediate();
    expect(order).toEqual(['accepted n1', 'delivered n1']); // n1: at once; n2: not accepted yet
    store.release();
    await second;
    await immediate();
    expect(order).toEqual(['accepted n1', 'delivered n1', 'accepted n2', 'delivered n2']);
  });
});
