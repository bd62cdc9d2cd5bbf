/**
 * ChannelRoom (outbox-room.ts), the Outbox's per-recipient bookkeeping of room in session
 * channels: waiting notifications stay in notify order (one the channel refused goes back to its
 * place), the bound over all recipients, and a lane forgotten only when nothing of it is left.
 */
import { describe, expect, it } from 'vitest';
import {
  CHANNEL_ROOM,
  ChannelRoom,
  MAX_WAITING,
  type Waiter,
} from '../../../src/peer/outbox-room.js';

interface W extends Waiter<W> {
  name: string;
}
const w = (seq: number): W => ({ seq, name: `n${seq}` });

describe('ChannelRoom', () => {
  it('keeps waiting notifications in notify order; a refused one goes back to its place', () => {
    const room = new ChannelRoom<W>();
    const lane = room.lane('peer');
    const [a, b, c] = [w(1), w(2), w(3)];
    room.wait(b, lane);
    room.wait(c, lane);
    room.wait(a, lane); // handed over earlier, refused by the channel: back before the rest
    expect(lane.waiting.map((x) => x.name)).toEqual(['n1', 'n2', 'n3']);
    expect(a.lane).toBe(lane);
    room.unwait(b); // settled while it waited (aborted, timed out)
    expect(lane.waiting.map((x) => x.name)).toEqual(['n1', 'n3']);
    expect(b.lane).toBeUndefined();
    room.unwait(b); // twice is nothing
    expect(lane.waiting).toHaveLength(2);
  });

  it('has room while nothing waits and the channel holds fewer than its bound', () => {
    const room = new ChannelRoom<W>();
    const lane = room.lane('peer');
    expect(room.hasRoom(lane)).toBe(true);
    lane.inChannel = CHANNEL_ROOM;
    expect(room.hasRoom(lane)).toBe(false);
    lane.inChannel = 0;
    room.wait(w(1), lane);
    expect(room.hasRoom(lane)).toBe(false); // in order: behind the one waiting
  });

  it('is full at MAX_WAITING over all recipients', () => {
    const room = new ChannelRoom<W>();
    const items = Array.from({ length: MAX_WAITING }, (_, i) => w(i));
    for (const [i, x] of items.entries()) room.wait(x, room.lane(`p${i % 3}`));
    expect(room.full).toBe(true);
    room.unwait(items[0]!);
    expect(room.full).toBe(false);
  });

  it('forgets a lane only when nothing of it is in the channel or waiting', () => {
    const room = new ChannelRoom<W>();
    const lane = room.lane('peer');
    const x = w(1);
    room.wait(x, lane);
    room.drop('peer', lane);
    expect(room.get('peer')).toBe(lane);
    room.unwait(x);
    lane.inChannel = 1;
    room.drop('peer', lane);
    expect(room.get('peer')).toBe(lane);
    lane.inChannel = 0;
    room.drop('peer', lane);
    expect(room.get('peer')).toBeUndefined();
    expect(room.lane('peer')).not.toBe(lane); // a new one next time
  });
});
