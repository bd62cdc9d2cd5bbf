/**
 * `peer.notifications()` (inbox.ts) as the application sees it: each notification once, in
 * order; a server copy acked when the loop takes it (not when it arrives); `break` ends that
 * loop for good; `signal` and the peer closing end a waiting loop; duplicates across rungs are
 * dropped. Written for the iterator that replaced the async generator (one promise hop per
 * notification instead of three): a generator's contract, kept.
 */
import { describe, expect, it } from 'vitest';
import { Inbox } from '../../../src/peer/inbox.js';
import type { DropReason } from '../../../src/peer/peer-types.js';
import { sealBody } from '../../../src/peer/sealed-body.js';
import { generateIdentity } from '../../../src/signaling/identity.js';
import { ManualClock } from '../../../src/util/clock.js';
import { silentLogger } from '../../../src/util/logger.js';

const me = generateIdentity();
const other = generateIdentity();
const turn = () => new Promise<void>((r) => setImmediate(r));

function setup() {
  const acks: string[][] = [];
  const dropped: Partial<Record<DropReason, number>> = {};
  const inbox = new Inbox({
    identity: me,
    clock: new ManualClock(),
    logger: silentLogger,
    dedupeCapacity: undefined,
    learnKey: () => {},
    noteContact: () => {},
    sendAck: (ids) => (acks.push(ids), true),
    connected: () => true,
    dropped,
  });
  inbox.welcomeTime = 0; // connected: a copy the server accepted since came straight through
  const session = (id: string) => inbox.fromSession(other.peerId, { id, body: id }, 'direct');
  const server = (id: string) =>
    inbox.fromServer({
      id,
      from: other.peerId,
      to: me.peerId,
      topic: '',
      body: sealBody(other, me.publicKey, { id, body: id }),
      ts: 0,
      expires: 1,
    });
  return { inbox, acks, dropped, session, server };
}

describe('peer.notifications()', () => {
  it('hands each notification over once, in order, across rungs', async () => {
    const { inbox, dropped, session, server } = setup();
    session('a');
    server('b');
    session('b'); // the same (sender, id) on another rung
    server('a');
    session('c');
    const got: string[] = [];
    for await (const n of inbox.notifications()) {
      got.push(`${n.id}@${n.path}`);
      if (got.length === 3) break;
    }
    expect(got).toEqual(['a@direct', 'b@server-routed', 'c@direct']);
    expect(dropped.duplicate).toBe(2);
  });

  it('drops a second copy through the session itself (the only dedupe above the channel)', async () => {
    // PeerLink's channel keeps no id table of its own (dedupeCapacity 0): a sender whose new
    // channel incarnation sends an id again, or two sessions in turn, meet this table alone.
    const { inbox, dropped, session } = setup();
    session('a');
    session('a');
    session('b');
    const got: string[] = [];
    for await (const n of inbox.notifications()) {
      got.push(n.id);
      if (got.length === 2) break;
    }
    expect(got).toEqual(['a', 'b']);
    expect(dropped.duplicate).toBe(1);
  });

  it('acks a server copy when the loop takes it, not before', async () => {
    const { inbox, acks, server } = setup();
    server('s1');
    server('s2');
    await turn();
    expect(acks).toEqual([]);
    const it = inbox.notifications();
    expect((await it.next()).value).toMatchObject({ id: 's1' });
    await turn();
    expect(acks).toEqual([['s1']]);
    // A redelivery of a consumed one is acked again (the first ack may have been lost).
    server('s1');
    await turn();
    expect(acks).toEqual([['s1'], ['s1']]);
    expect((await it.next()).value).toMatchObject({ id: 's2' });
    await turn();
    expect(acks.at(-1)).toEqual(['s2']);
  });

  it('a loop left with break is done; a new loop goes on with the rest', async () => {
    const { inbox, session } = setup();
    for (const id of ['1', '2', '3']) session(id);
    const first = inbox.notifications();
    for await (const n of first) if (n.id === '1') break;
    expect(await first.next()).toEqual({ value: undefined, done: true });
    const rest: string[] = [];
    for await (const n of inbox.notifications()) {
      rest.push(n.id);
      if (rest.length === 2) break;
    }
    expect(rest).toEqual(['2', '3']);
  });

  it('a waiting loop ends on its signal (the item stays queued) and when the inbox ends', async () => {
    const { inbox, session } = setup();
    const ac = new AbortController();
    const it = inbox.notifications({ signal: ac.signal });
    const waiting = it.next();
    ac.abort();
    expect(await waiting).toEqual({ value: undefined, done: true });
    expect(await it.next()).toEqual({ value: undefined, done: true });
    session('kept');
    const other = inbox.notifications();
    expect((await other.next()).value).toMatchObject({ id: 'kept' });
    const pending = other.next();
    inbox.end();
    expect(await pending).toEqual({ value: undefined, done: true });
  });
});
