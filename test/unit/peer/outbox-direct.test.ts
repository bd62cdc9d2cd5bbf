/**
 * Outbox (outbox.ts) on a session link that carries: `notify` resolves with the link's path once
 * the remote's channel acks; a session send that fails (the path died before the ack, or the
 * channel refused it at once) goes down to the sealed server rung with the same id, and the
 * server's answers settle it there. Written for the direct fast path that replaced an async
 * dispatch (one promise hop less per notification) and for the id table filled only on the
 * server rung: the outcomes are the ones the async version gave.
 */
import { describe, expect, it } from 'vitest';
import { Outbox } from '../../../src/peer/outbox.js';
import type { LinkTable } from '../../../src/peer/link-table.js';
import { generateIdentity } from '../../../src/signaling/identity.js';
import type { ClientMessage } from '../../../src/signaling/protocol.js';
import { ManualClock } from '../../../src/util/clock.js';
import { silentLogger } from '../../../src/util/logger.js';

const me = generateIdentity();
const other = generateIdentity();

function setup(send: (n: { id: string }) => Promise<void>) {
  const frames: Extract<ClientMessage, { type: 'notify' }>[] = [];
  // PeerLink.post's contract over the test's promise: `done` once, after the call returns.
  const post = (n: { id: string }, _timeoutMs: number, done: (err?: Error) => void) =>
    void send(n).then(() => done(), done);
  const link = { carries: true, path: 'direct', post, start: () => Promise.resolve() };
  const table = { linkFor: () => link, get: () => link } as unknown as LinkTable;
  let ref = 0;
  const outbox = new Outbox({
    nextRef: () => `r${ref++}`,
    identity: me,
    clock: new ManualClock(),
    logger: silentLogger,
    direct: true,
    links: () => table,
    remoteKey: () => Promise.resolve(other.publicKey),
    sendFrame: (f) => (frames.push(f), true),
    noteContact: () => {},
    onPath: () => {},
  });
  return { outbox, frames };
}

const until = async (ok: () => boolean) => {
  for (let i = 0; i < 100 && !ok(); i++) await new Promise((r) => setImmediate(r));
};

describe('notify over a session link', () => {
  it("resolves with the link's path when the channel acks", async () => {
    const sent: string[] = [];
    const { outbox, frames } = setup((n) => (sent.push(n.id), Promise.resolve()));
    const r = await outbox.notify(other.peerId, 'hi', { id: 'n1' }, false);
    expect(r).toMatchObject({ id: 'n1', path: 'direct', status: 'delivered' });
    expect(sent).toEqual(['n1']);
    expect(frames).toEqual([]);
    // The recipient's id is checked once per change of recipient, and still checked.
    expect(() => outbox.notify('not-a-peer', 'hi', {}, false)).toThrow(TypeError);
    expect(() => outbox.notify(other.peerId.toUpperCase(), 'hi', {}, false)).toThrow(TypeError);
    await outbox.notify(other.peerId, 'again', { id: 'n1b' }, false);
    expect(sent).toEqual(['n1', 'n1b']);
  });

  it.each([
    ['the path dies before the ack', () => Promise.reject(new Error('path closed'))],
    [
      'the channel refuses the send at once',
      () => {
        throw new TypeError('refused');
      },
    ],
  ])('%s: the same id goes through the server and its answers settle it', async (_, send) => {
    const { outbox, frames } = setup(send);
    // A plaintext no random base64 body can contain by chance ('hi' did, ~1 in 40 runs).
    const plaintext = 'plaintext-that-must-not-travel-in-clear';
    const result = outbox.notify(other.peerId, plaintext, { id: 'n2' }, false);
    await until(() => frames.length > 0);
    expect(frames).toHaveLength(1);
    expect(frames[0]).toMatchObject({ type: 'notify', id: 'n2', to: other.peerId });
    expect(frames[0]!.body).not.toContain(plaintext); // sealed
    expect(frames[0]!.body).toMatch(/^np1\./);
    // `delivered` overtakes `accepted` (found by id), then `accepted` settles it.
    outbox.delivered({ type: 'delivered', id: 'n2', to: other.peerId, via: 'websocket' });
    outbox.accepted({
      type: 'accepted',
      ref: frames[0]!.ref,
      id: 'n2',
      to: other.peerId,
      online: true,
      duplicate: false,
    });
    expect(await result).toMatchObject({ id: 'n2', path: 'server-routed', via: 'websocket' });
  });
});
