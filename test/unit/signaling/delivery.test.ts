import { describe, expect, it } from 'vitest';
import { Delivery, type PeerSession } from '../../../src/signaling/delivery.js';
import { Mailbox } from '../../../src/signaling/mailbox.js';
import { Metrics, signalingMetrics } from '../../../src/signaling/metrics.js';
import type { Notification, Transport } from '../../../src/signaling/protocol.js';
import { MemoryStore } from '../../../src/signaling/store/memory-store.js';
import { ManualClock } from '../../../src/util/clock.js';
import { silentLogger } from '../../../src/util/logger.js';

const A = 'a'.repeat(32);
const B = 'b'.repeat(32);

class FakeSession implements PeerSession {
  got: Notification[] = [];
  busy = false;
  closed: string | undefined;
  constructor(
    readonly peer: string,
    readonly transport: Transport = 'websocket',
  ) {}
  offer(n: Notification): boolean {
    if (this.busy) return false;
    this.got.push(n);
    return true;
  }
  close(code: string): void {
    this.closed = code;
  }
}

function setup(quota = 100, window = 4, earlyAckMs = 0) {
  const clock = new ManualClock(0);
  const metrics = signalingMetrics(new Metrics());
  const mailbox = new Mailbox({
    store: new MemoryStore(),
    clock,
    logger: silentLogger,
    quota,
    maxDelayMs: 1,
    earlyAckMs,
  });
  mailbox.register(B, 'pk');
  const delivery = new Delivery({
    mailbox,
    clock,
    logger: silentLogger,
    metrics,
    window,
    retryAfterMs: 5000,
  });
  const delivered: string[] = [];
  const deliveredVia: string[] = [];
  const presence: string[] = [];
  delivery.events = {
    delivered: (r, via) => {
      delivered.push(r.id);
      deliveredVia.push(`${r.id}:${via}`);
    },
    presence: (p, on) => presence.push(`${p.slice(0, 1)}:${on}`),
  };
  const accept = (id: string) =>
    mailbox.accept({
      id,
      from: A,
      to: B,
      topic: '',
      body: id,
      ts: clock.now(),
      expires: clock.now() + 60_000,
    });
  return { clock, mailbox, delivery, metrics, delivered, deliveredVia, presence, accept };
}

describe('Delivery', () => {
  it('delivers in order within the window, opens it on acks, reports delivered after commit', async () => {
    const { clock, delivery, accept, delivered, mailbox } = setup();
    const s = new FakeSession(B);
    delivery.attach(s);
    const acks = ['1', '2', '3', '4', '5', '6'].map(accept);
    await clock.advanceAsync(1);
    await Promise.all(acks);
    expect(s.got.map((n) => n.id)).toEqual(['1', '2', '3', '4']);
    delivery.ack(B, ['1', '2'], 'websocket');
    expect(s.got.map((n) => n.id)).toEqual(['1', '2', '3', '4', '5', '6']);
    await clock.advanceAsync(1);
    expect(delivered).toEqual(['1', '2']);
    expect(mailbox.store.depth(B)).toBe(4);
  });

  it('a caught-up route takes acks and new mail without reading the store', async () => {
    const { clock, delivery, accept, mailbox } = setup(100, 4);
    const s = new FakeSession(B);
    delivery.attach(s);
    let reads = 0;
    const pending = mailbox.store.pending.bind(mailbox.store);
    mailbox.store.pending = (...a) => {
      reads++;
      return pending(...a);
    };
    for (let i = 0; i < 20; i++) {
      const p = accept(`n${i}`);
      await clock.advanceAsync(1);
      await p;
      delivery.ack(B, [`n${i}`], 'websocket');
    }
    expect(s.got.map((n) => n.id)).toEqual(Array.from({ length: 20 }, (_, i) => `n${i}`));
    expect(reads).toBe(0);
    // Past the window the route falls behind, in order; what the window did not take was kept
    // from the commit (delivery-route.ts `#ahead`), so it is still not read back.
    const more = ['a', 'b', 'c', 'd', 'e', 'f'].map(accept);
    await clock.advanceAsync(1);
    await Promise.all(more);
    expect(s.got.slice(20).map((n) => n.id)).toEqual(['a', 'b', 'c', 'd']);
    delivery.ack(B, ['a', 'b'], 'websocket');
    expect(s.got.slice(20).map((n) => n.id)).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
    expect(reads).toBe(0);
  });

  it('keeps order when later commits arrive while the window is full (no overtaking)', async () => {
    const { clock, delivery, accept } = setup(100, 2);
    const s = new FakeSession(B);
    delivery.attach(s);
    const first = ['1', '2', '3'].map(accept);
    await clock.advanceAsync(1);
    await Promise.all(first);
    expect(s.got.map((n) => n.id)).toEqual(['1', '2']);
    delivery.ack(B, ['1'], 'websocket'); // 3 goes out, window full again
    const later = accept('4');
    await clock.advanceAsync(1);
    await later;
    expect(s.got.map((n) => n.id)).toEqual(['1', '2', '3']);
    delivery.ack(B, ['2', '3'], 'websocket');
    const last = accept('5');
    await clock.advanceAsync(1);
    await last;
    expect(s.got.map((n) => n.id)).toEqual(['1', '2', '3', '4', '5']);
  });

  it('passes over rows stored before the strict id/topic alphabet, and counts them', async () => {
    const { clock, delivery, accept, mailbox, metrics } = setup();
    const legacy = (id: string, topic: string) =>
      mailbox.store.insert({ id, from: A, to: B, topic, body: 'x', ts: 0, expires: 60_000 });
    legacy('evil\nevent: deliver', '');
    legacy('evil2', 'pay \u202eevil');
    const ok = accept('fine');
    await clock.advanceAsync(1);
    await ok;
    const s = new FakeSession(B);
    delivery.attach(s);
    expect(s.got.map((n) => n.id)).toEqual(['fine']);
    expect(metrics.drops.get({ reason: 'invalid_stored', type: 'deliver' })).toBe(2);
  });

  it('takes acks only of notifications in flight to the acking peer', async () => {
    const { clock, delivery, accept, metrics, mailbox } = setup();
    const p = [accept('1'), accept('2')];
    await clock.advanceAsync(1);
    await Promise.all(p);
    const s = new FakeSession(B);
    delivery.attach(s);
    expect(delivery.ack(A, ['1'], 'websocket')).toBe(0); // not A's
    expect(delivery.ack(B, ['1', 'nope', 'nope2'], 'websocket')).toBe(1);
    expect(metrics.drops.get({ reason: 'unknown_ack', type: 'ack' })).toBe(3);
    // After the session ends, an ack of what was in flight on it still counts.
    delivery.detach(s);
    expect(delivery.ack(B, ['2'], 'sse')).toBe(1);
    await clock.advanceAsync(1);
    expect(mailbox.store.depth(B)).toBe(0);
    expect(delivery.tableSizes).toEqual({ routes: 0, inflight: 0 });
  });

  it('names the transport each ack came over, written or acked before it was written (early)', async () => {
    const { clock, delivery, accept, deliveredVia, metrics } = setup(100, 4, 10);
    delivery.attach(new FakeSession(B, 'sse'));
    // '1' is sent early, not acked within earlyAckMs: written. '2' is sent early.
    const one = accept('1');
    await clock.advanceAsync(10);
    await clock.advanceAsync(1);
    await one;
    void accept('2');
    // One ack of the written one, one of the early one, in the same turn: the early one's
    // `delivered` comes first (no commit needed); the written one's at the next commit. The
    // label of the second must not be lost to the first (it used to be: 'websocket').
    delivery.ack(B, ['1'], 'sse');
    delivery.ack(B, ['2'], 'sse');
    await clock.advanceAsync(1);
    await new Promise((r) => setImmediate(r)); // the early one's `delivered` is on a nextTick
    expect(deliveredVia.sort()).toEqual(['1:sse', '2:sse']);
    expect(metrics.notificationsOut.get({ transport: 'sse' })).toBe(2);
    expect(metrics.notificationsOut.get({ transport: 'websocket' })).toBe(0);
    expect(metrics.deliveryLatency.get({ path: 'sse' }).count).toBe(2);
  });

  it('keeps mail for an offline peer and sends it all again on reconnect', async () => {
    const { clock, delivery, accept } = setup();
    const p = [accept('1'), accept('2')];
    await clock.advanceAsync(1);
    await Promise.all(p);
    const s1 = new FakeSession(B);
    delivery.attach(s1);
    expect(s1.got.map((n) => n.id)).toEqual(['1', '2']);
    delivery.detach(s1);
    const s2 = new FakeSession(B);
    delivery.attach(s2);
    expect(s2.got.map((n) => n.id)).toEqual(['1', '2']);
  });

  it('retries unacked notifications after retryAfterMs and stops once acked', async () => {
    const { clock, delivery, accept, metrics } = setup();
    const s = new FakeSession(B);
    delivery.attach(s);
    const p = accept('1');
    await clock.advanceAsync(1);
    await p;
    await clock.advanceAsync(5000);
    expect(s.got.map((n) => n.id)).toEqual(['1', '1']);
    expect(metrics.retries.get({ transport: 'websocket' })).toBe(1);
    delivery.ack(B, ['1'], 'websocket');
    await clock.advanceAsync(20_000);
    expect(s.got).toHaveLength(2);
  });

  it('waits while the transport is busy without losing anything', async () => {
    const { clock, delivery, accept } = setup();
    const s = new FakeSession(B);
    s.busy = true;
    delivery.attach(s);
    const p = [accept('1'), accept('2')];
    await clock.advanceAsync(1);
    await Promise.all(p);
    expect(s.got).toHaveLength(0);
    s.busy = false;
    await clock.advanceAsync(50);
    expect(s.got.map((n) => n.id)).toEqual(['1', '2']);
  });

  it('replaces an older session of the same peer and reports presence once', () => {
    const { delivery, presence } = setup();
    const s1 = new FakeSession(B);
    const s2 = new FakeSession(B);
    delivery.attach(s1);
    delivery.attach(s2);
    expect(s1.closed).toBe('NATPUSH_ERR_REPLACED');
    delivery.detach(s1);
    expect(delivery.session(B)).toBe(s2);
    delivery.detach(s2);
    expect(presence).toEqual(['b:true', 'b:true', 'b:false']);
  });

  it('refuses beyond the per-peer quota with MAILBOX_FULL', async () => {
    // Peers together may fill half a mailbox (STORE_QUOTAS.peerMailboxShare): 2 of 4.
    const { clock, accept } = setup(4);
    const p = [accept('1'), accept('2'), accept('3')];
    await clock.advanceAsync(1);
    await expect(p[2]).rejects.toMatchObject({ code: 'NATPUSH_ERR_MAILBOX_FULL' });
    await expect(p[1]).resolves.toMatchObject({ duplicate: false });
  });
});
