/**
 * Outbox (outbox.ts) on a session channel that is full: a burst larger than the channel's queue
 * (RELIABLE_DEFAULTS.maxQueuedMessages) waits in the Outbox for room and goes entirely over the
 * direct path — not through the server (the old fallback on the channel's BACKPRESSURE sent the
 * excess server-routed). A waiting notify honours its AbortSignal; only a path that dies sends
 * what waits down to the sealed server rung, each once. Two real PeerLinks (link-pair.ts) on
 * full-cone NATs in memory, ManualClock; the Outbox's server rung is recorded, never answered
 * unless a test answers it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { linkDeliveryPath } from '../../../src/peer/inbox.js';
import type { LinkTable } from '../../../src/peer/link-table.js';
import { Outbox } from '../../../src/peer/outbox.js';
import type { NotifyResult } from '../../../src/peer/peer-types.js';
import { RELIABLE_DEFAULTS } from '../../../src/session/reliable-options.js';
import type { ClientMessage } from '../../../src/signaling/protocol.js';
import { silentLogger } from '../../../src/util/logger.js';
import { SIGNAL_MS } from '../punch/world.js';
import { closeLinkWorld, linkPair, linkWorld } from './link-pair.js';
import { orderedPeers } from './ordered-peers.js';

afterEach(closeLinkWorld);

const ROOM = RELIABLE_DEFAULTS.maxQueuedMessages;

/** A direct link a → b, and an Outbox on a that sends on it; b's received bodies in order. */
async function setup() {
  const w = await linkWorld();
  const { ia, ib, sa, sb } = await orderedPeers(w);
  const box: { outbox?: Outbox } = {};
  const pair = linkPair(w, [ia, sa], [ib, sb], {
    serverMs: SIGNAL_MS,
    link: {
      // No re-punch within a test: a path dropped stays down.
      repunchMs: { initial: 600_000, max: 600_000 },
      // The link's path events reach the Outbox, as LinkTable's emitPath does in a Peer.
      onPath: (e) => box.outbox?.path({ peer: ib.peerId, path: linkDeliveryPath(e.path) }),
    },
  });
  const { a: la, b: lb } = pair;
  const frames: Extract<ClientMessage, { type: 'notify' }>[] = [];
  let ref = 0;
  const table = { linkFor: () => la, get: () => la } as unknown as LinkTable;
  const outbox = new Outbox({
    nextRef: () => `r${ref++}`,
    identity: ia,
    clock: w.clock,
    logger: silentLogger,
    direct: true,
    links: () => table,
    remoteKey: () => Promise.resolve(ib.publicKey),
    sendFrame: (f) => (frames.push(f), true),
    noteContact: () => {},
    onPath: () => {},
  });
  box.outbox = outbox;
  void la.start();
  for (let t = 0; t < 20_000 && !(la.path === 'direct' && lb.path === 'direct'); t += 5)
    await w.clock.advanceAsync(5);
  expect([la.path, lb.path]).toEqual(['direct', 'direct']);
  return { w, la, lb, outbox, frames, got: pair.got.b, to: ib.peerId };
}

const bodies = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

describe('notify on a full session channel', () => {
  it('a burst larger than the channel queue goes entirely direct, in order, once', async () => {
    const { w, outbox, frames, got, to } = await setup();
    const want = bodies(ROOM + 700, 'b');
    const results = want.map((body) =>
      outbox.notify(to, body, { deliveryTimeoutMs: 60_000 }, false),
    );
    await w.clock.advanceAsync(1);
    expect(frames).toEqual([]); // the excess did not go through the server at once
    const all: NotifyResult[] = await w.run(Promise.all(results), 120_000);
    expect(frames).toEqual([]); // nothing through the server
    expect(all.filter((r) => r.path !== 'direct')).toEqual([]);
    expect(got).toEqual(want); // every one, in order, exactly once
  });

  it('an aborted or timed-out waiting notify rejects and is never sent; the rest go direct', async () => {
    const { w, outbox, frames, got, to } = await setup();
    const want = bodies(ROOM + 20, 'c');
    const ac = new AbortController();
    // Beyond the channel's room: they wait in the Outbox. The room opens only when acks come
    // back (4 hops of HOP_MS), long after the 1 ms timeout.
    const [aborts, times] = [ROOM + 5, ROOM + 10];
    const results = want.map((body, i) =>
      outbox.notify(
        to,
        body,
        {
          deliveryTimeoutMs: 60_000,
          ...(i === aborts ? { signal: ac.signal } : {}),
          ...(i === times ? { timeoutMs: 1 } : {}),
        },
        false,
      ),
    );
    ac.abort();
    await expect(results[aborts]).rejects.toMatchObject({ code: 'NATPUSH_ERR_ABORTED' });
    const timedOut = expect(results[times]).rejects.toMatchObject({
      code: 'NATPUSH_ERR_REQUEST_TIMEOUT',
    });
    await w.clock.advanceAsync(1);
    await timedOut;
    expect(frames).toEqual([]);
    const rest = results.filter((_, i) => i !== aborts && i !== times);
    const all = await w.run(Promise.all(rest), 120_000);
    expect(all.filter((r) => r.path !== 'direct')).toEqual([]);
    expect(frames).toEqual([]);
    expect(got).toEqual(want.filter((_, i) => i !== aborts && i !== times));
  });

  it('past the bound of waiting notifications, notify rejects with BACKPRESSURE', async () => {
    const { w, outbox, frames, got, to } = await setup();
    // ROOM in the channel + 4096 waiting (outbox.ts MAX_WAITING), then one more.
    const want = bodies(ROOM + 4096, 'd');
    const results = want.map((body) =>
      outbox.notify(to, body, { deliveryTimeoutMs: 60_000 }, false),
    );
    const over = outbox.notify(to, 'over', { deliveryTimeoutMs: 60_000 }, false);
    await w.clock.advanceAsync(1);
    expect(frames).toEqual([]);
    await expect(over).rejects.toMatchObject({ code: 'NATPUSH_ERR_SESSION_BACKPRESSURE' });
    const all = await w.run(Promise.all(results), 300_000);
    expect(all.filter((r) => r.path !== 'direct')).toEqual([]);
    expect(frames).toEqual([]);
    expect(got).toEqual(want);
  });

  it('the path dying while notifications wait sends each waiting one to the server once', async () => {
    const { w, la, lb, outbox, frames, got, to } = await setup();
    const want = bodies(ROOM + 1000, 'e');
    const results = want.map((body) =>
      outbox.notify(to, body, { deliveryTimeoutMs: 600_000 }, false),
    );
    // Until the first acks: room opened, some waiting ones handed over, the rest still wait.
    let acked = 0;
    for (const r of results)
      r.then(
        () => acked++,
        () => {},
      );
    for (let t = 0; t < 10_000 && acked === 0; t += 1) await w.clock.advanceAsync(1);
    expect(acked).toBeGreaterThan(0);
    expect(frames).toEqual([]); // a full channel sent nothing through the server
    la.dropPath('killed by the test');
    lb.dropPath('killed by the test');
    await w.clock.advanceAsync(1); // the sealed server sends (one key lookup's promise)
    const toServer = frames.map((f) => f.id);
    expect(toServer.length).toBeGreaterThan(0);
    expect(toServer.length).toBeLessThan(1000); // some had been handed to the channel
    expect(new Set(toServer).size).toBe(toServer.length); // each once
    // The waiting ones are the tail of the burst; the channel took the head (it resends those
    // over its own server rung, `p2p` frames, as the path went down).
    const firstWaiting = want.length - toServer.length;
    // The server's answers settle the tail; the clock drives the channel's head home.
    for (const f of frames) {
      outbox.accepted({
        type: 'accepted',
        ref: f.ref,
        id: f.id,
        to,
        online: true,
        duplicate: false,
      });
      outbox.delivered({ type: 'delivered', id: f.id, to, via: 'websocket' });
    }
    const all = await w.run(Promise.all(results), 300_000);
    const serverRouted = all.filter((r) => r.path === 'server-routed' && r.via === 'websocket');
    expect(serverRouted.map((r) => r.id)).toEqual(toServer);
    // The tail went to the server, the head through the channel: no body both ways.
    expect(all.slice(firstWaiting).map((r) => r.id)).toEqual(toServer);
    expect(got).toEqual(want.slice(0, firstWaiting));
    await w.clock.advanceAsync(1_000);
    expect(frames).toHaveLength(toServer.length); // nothing sent to the server twice
  });
});
