/**
 * The Peer's `path` event is one stream from two sources — the session link moving up or down
 * (peer-link.ts) and notify results (outbox.ts) — and it tells only changes. A result that
 * contradicts the link as it is now (a notification sent through the server just before the
 * link began to carry, settled after it did; one acked on a path that has died since) says
 * nothing about the path now and is not told: before, a burst straddling the move made the event
 * flap `direct`, `server-routed`, `direct`.
 */
import { describe, expect, it } from 'vitest';
import type { LinkTable } from '../../../src/peer/link-table.js';
import { Outbox } from '../../../src/peer/outbox.js';
import type { LinkPath } from '../../../src/peer/peer-link.js';
import type { DeliveryPath } from '../../../src/peer/peer-types.js';
import { generateIdentity } from '../../../src/signaling/identity.js';
import { ManualClock } from '../../../src/util/clock.js';
import { silentLogger } from '../../../src/util/logger.js';

function setup() {
  const me = generateIdentity();
  const them = generateIdentity();
  const clock = new ManualClock();
  const acks: (() => void)[] = [];
  // The link as the Outbox sees it: whether it carries, its rung, and a session send that is
  // acked when the test says.
  const link = {
    carries: false,
    path: 'server' as LinkPath,
    start: () => Promise.resolve(),
    post: (_n: unknown, _t: number, done: () => void) => void acks.push(() => done()),
  };
  const table = { linkFor: () => link, get: () => link } as unknown as LinkTable;
  const frames: { ref: string; id: string }[] = [];
  const events: string[] = [];
  let ref = 0;
  const outbox = new Outbox({
    nextRef: () => String(ref++),
    identity: me,
    clock,
    logger: silentLogger,
    direct: true,
    links: () => table,
    remoteKey: () => Promise.resolve(them.publicKey),
    sendFrame: (f) => {
      frames.push({ ref: f.ref, id: f.id });
      return true;
    },
    noteContact: () => {},
    onPath: (e) => events.push(`${e.path}${e.reason ? ` (${e.reason})` : ''}`),
  });
  /** The server's answers to a sealed notify: accepted, then the recipient's ack. */
  const serverDelivers = (f: { ref: string; id: string }) => {
    const to = them.peerId;
    outbox.accepted({ type: 'accepted', ref: f.ref, id: f.id, to, online: true, duplicate: false });
    outbox.delivered({ type: 'delivered', id: f.id, to, via: 'websocket' });
  };
  const flush = () => clock.advanceAsync(0);
  return { them, link, acks, outbox, frames, events, serverDelivers, flush };
}

describe('path events', () => {
  it('tell each change once; results that contradict the link now are not told', async () => {
    const t = setup();
    const results: DeliveryPath[] = [];
    const send = (body: string) =>
      void t.outbox.notify(t.them.peerId, body, {}, false).then((r) => results.push(r.path));

    // Through the server: the link does not carry yet.
    send('one');
    send('two');
    await t.flush();
    expect(t.frames).toHaveLength(2);
    t.serverDelivers(t.frames[0]!);
    await t.flush();
    expect(t.events).toEqual(['server-routed']);

    // The link carries on a direct path now. One over the session, acked; then 'two' (sent
    // through the server before) settles: the path now is still direct.
    t.link.carries = true;
    t.link.path = 'direct';
    t.outbox.path({ peer: t.them.peerId, path: 'direct' });
    send('three');
    await t.flush();
    t.acks[0]!();
    await t.flush();
    t.serverDelivers(t.frames[1]!);
    await t.flush();
    expect(t.events).toEqual(['server-routed', 'direct']);

    // Two over the session; the path dies before the second is acked.
    send('four');
    send('five');
    await t.flush();
    expect(t.acks).toHaveLength(3);
    t.acks[1]!();
    await t.flush();
    t.link.carries = false;
    t.link.path = 'server';
    t.outbox.path({ peer: t.them.peerId, path: 'server-routed', reason: 'consent lost' });
    t.acks[2]!(); // acked (through the server rung of the session) after the fall
    await t.flush();
    expect(results).toEqual([
      'server-routed',
      'direct',
      'server-routed',
      'direct',
      'server-routed',
    ]);
    expect(t.events).toEqual(['server-routed', 'direct', 'server-routed (consent lost)']);

    // The same path told again by the link is no new event.
    t.outbox.path({ peer: t.them.peerId, path: 'server-routed' });
    expect(t.events).toHaveLength(3);
  });
});
