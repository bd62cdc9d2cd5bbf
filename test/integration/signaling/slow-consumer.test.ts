/**
 * Replies are bounded like every other frame (issue 8: a peer that asks and never reads grew the
 * server by 194 MB in 43 s). A real server's context drives one WsConnection over a stand-in
 * socket whose send buffer we set: filling a real one takes the kernel's megabytes first, which
 * test/security/memory-slow-reader.test.ts does end to end against `natpush serve`.
 */
import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import { generateIdentity, signChallenge } from '../../../src/signaling/identity.js';
import { LIMITS, TIMING } from '../../../src/signaling/constants.js';
import type { ServerMessage } from '../../../src/signaling/protocol.js';
import { WsConnection } from '../../../src/signaling/ws-connection.js';
import { ManualClock } from '../../../src/util/clock.js';
import { Tracker } from './helpers.js';

/** What WsConnection uses of a `ws` socket; `bufferedAmount` is ours to set. */
class StandInSocket extends EventEmitter {
  readonly OPEN = 1;
  readonly CLOSED = 3;
  readyState = 1;
  bufferedAmount = 0;
  sent: ServerMessage[] = [];
  closedWith: number | undefined;
  terminated = false;
  send(text: string): void {
    this.sent.push(JSON.parse(text) as ServerMessage);
  }
  close(code: number): void {
    this.closedWith = code;
  }
  terminate(): void {
    this.terminated = true;
    this.readyState = this.CLOSED;
    this.emit('close');
  }
  frame(m: unknown): void {
    this.emit('message', Buffer.from(JSON.stringify(m)), false);
  }
  take(): ServerMessage[] {
    return this.sent.splice(0);
  }
}

const t = new Tracker();
afterEach(() => t.cleanup());

async function loggedIn() {
  const clock = new ManualClock(1_000_000);
  const s = await t.server({ clock });
  const ws = new StandInSocket();
  const conn = new WsConnection(ws as unknown as WebSocket, '127.0.0.1', s.context);
  const id = generateIdentity();
  ws.frame({ type: 'hello', v: 1, peer: id.peerId, publicKey: id.publicKey });
  const c = ws.take().find((m) => m.type === 'challenge')!;
  ws.frame({ type: 'auth', nonce: c.nonce, signature: signChallenge(id, c) });
  // `welcome` follows the registration's group commit (mailbox.ts `registration`).
  await clock.advanceAsync(TIMING.groupCommitMaxDelayMs);
  expect(ws.take().map((m) => m.type)).toContain('welcome');
  expect(conn.ready).toBe(true);
  const metrics = async () => (await fetch(`${s.url}/metrics`)).text();
  return { clock, ws, conn, metrics };
}

describe('replies to a peer that does not read', () => {
  it('are dropped over maxBufferedBytes, counted, and written again once it reads', async () => {
    const { ws, metrics } = await loggedIn();
    ws.bufferedAmount = LIMITS.maxBufferedBytes + 1;
    for (let i = 0; i < 10; i++) ws.frame({ type: 'ping', t: i });
    ws.frame({ type: 'turn-credentials', ref: 'tc' });
    expect(ws.take()).toEqual([]);
    expect(await metrics()).toMatch(
      /^natpush_dropped_frames_total\{reason="slow_consumer",type="pong"\} 10$/m,
    );
    // It read: the buffer drained, replies flow again.
    ws.bufferedAmount = 0;
    ws.frame({ type: 'ping', t: 99 });
    expect(ws.take()).toEqual([{ type: 'pong', t: 99 }]);
    expect(ws.closedWith).toBeUndefined();
  });

  it('a peer that keeps asking without reading is closed with NATPUSH_ERR_SLOW_CONSUMER, then cut', async () => {
    const { clock, ws, conn } = await loggedIn();
    ws.bufferedAmount = LIMITS.maxBufferedBytes + 1;
    for (let i = 0; i < LIMITS.maxUnreadReplies - 1; i++) ws.frame({ type: 'ping', t: i });
    expect(ws.closedWith).toBeUndefined();
    ws.frame({ type: 'ping', t: -1 });
    expect(ws.take()).toEqual([
      expect.objectContaining({ type: 'error', code: 'NATPUSH_ERR_SLOW_CONSUMER', fatal: true }),
    ]);
    expect(ws.closedWith).toBe(1008);
    expect(conn.ready).toBe(false);
    // It does not read the close frame either: cut after the linger, not ws's 30 s.
    expect(ws.terminated).toBe(false);
    clock.advance(1_000);
    expect(ws.terminated).toBe(true);
  });
});
