/**
 * Read ahead (delivery-route.ts `#ahead`): a recipient that is behind — more notifications than
 * its window — costs one mailbox read per window, not one per ack, and what is read ahead is
 * sent in order, once, and never after it expired.
 */
import { describe, expect, it } from 'vitest';
import { B, RecordingSession as Session, mailboxRig } from '../../support/mailbox-rig.js';

const setup = (window: number) => mailboxRig({ window, quota: 1000 });

describe('Delivery read ahead', () => {
  it('reads the mailbox once per window of a recipient that is behind, not once per ack', async () => {
    const { clock, store, delivery, delivered, accept } = setup(8);
    const s = new Session(B);
    delivery.attach(s);
    const ids = Array.from({ length: 64 }, (_, i) => `n${i}`);
    const accepted = ids.map((id) => accept(id));
    await clock.advanceAsync(1);
    await Promise.all(accepted);
    expect(s.got.map((n) => n.id)).toEqual(ids.slice(0, 8));
    store.reads = 0;
    // The recipient acks one at a time, each as it arrives: every ack opens one slot.
    for (let i = 0; s.got.length < ids.length || i < s.got.length; i++) {
      expect(delivery.ack(B, [s.got[i]!.id], 'websocket')).toBe(1);
      await clock.advanceAsync(1);
    }
    expect(s.got.map((n) => n.id)).toEqual(ids); // in order, each once
    expect(delivered).toEqual(ids);
    // 56 were read back: 7 windows of 8 (and one empty read at the end); one read per ack was 56.
    expect(store.reads).toBeLessThanOrEqual(10);
    expect(store.depth(B)).toBe(0);
  });

  it('keeps what its own commits store while the recipient stays behind: no read back', async () => {
    const { clock, store, delivery, delivered, accept } = setup(4);
    const s = new Session(B);
    delivery.attach(s);
    store.reads = 0;
    const sent: string[] = [];
    const next = async () => {
      const id = `n${sent.length}`;
      sent.push(id);
      const p = accept(id);
      await clock.advanceAsync(1);
      await p;
    };
    for (let i = 0; i < 7; i++) await next(); // 4 in flight, 3 behind
    // Steady state: each ack makes room for one behind, each commit adds one behind.
    for (let i = 0; i < 40; i++) {
      delivery.ack(B, [s.got[i]!.id], 'websocket');
      await next();
    }
    for (let i = 40; i < sent.length; i++) {
      delivery.ack(B, [s.got[i]!.id], 'websocket');
      await clock.advanceAsync(1);
    }
    expect(s.got.map((n) => n.id)).toEqual(sent);
    expect(delivered).toEqual(sent);
    expect(store.reads).toBe(0);
  });

  it('passes over a row that expired while it waited in the read-ahead', async () => {
    const { clock, delivery, accept } = setup(2);
    const s = new Session(B);
    delivery.attach(s);
    const p = [accept('n1'), accept('n2'), accept('n3'), accept('short', B, 100), accept('n5')];
    await clock.advanceAsync(1);
    await Promise.all(p);
    expect(s.got.map((n) => n.id)).toEqual(['n1', 'n2']);
    delivery.ack(B, ['n1'], 'websocket'); // reads n3, short, n5 ahead; sends n3
    await clock.advanceAsync(1);
    expect(s.got.map((n) => n.id)).toEqual(['n1', 'n2', 'n3']);
    await clock.advanceAsync(200); // `short` expires in the read-ahead
    delivery.ack(B, ['n2'], 'websocket');
    await clock.advanceAsync(1);
    expect(s.got.map((n) => n.id)).toEqual(['n1', 'n2', 'n3', 'n5']);
  });

  it('sends what was read ahead in order before anything stored after it', async () => {
    const { clock, delivery, accept } = setup(2);
    const s = new Session(B);
    delivery.attach(s);
    const first = ['n1', 'n2', 'n3', 'n4'].map((id) => accept(id));
    await clock.advanceAsync(1);
    await Promise.all(first);
    delivery.ack(B, ['n1'], 'websocket'); // n3 sent, n4 read ahead
    await clock.advanceAsync(1);
    const later = accept('n5'); // stored while n4 waits in the read-ahead
    await clock.advanceAsync(1);
    await later;
    delivery.ack(B, ['n2', 'n3'], 'websocket');
    await clock.advanceAsync(1);
    expect(s.got.map((n) => n.id)).toEqual(['n1', 'n2', 'n3', 'n4', 'n5']);
  });
});
