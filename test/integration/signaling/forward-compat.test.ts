/**
 * The real SignalingClient against a "newer serve" (protocol.ts header: Compatibility), played
 * by a hand-written WebSocket server on loopback: frames carry fields this client does not know
 * and a frame type it does not know. The client must log in, hand the application the frames
 * with the extras stripped, and stay connected; a known type with a wrong field must still
 * drop the connection (and retry), as before.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { SignalingClient } from '../../../src/signaling/client.js';
import { generateIdentity } from '../../../src/signaling/identity.js';
import type { ServerMessage } from '../../../src/signaling/protocol.js';
import {
  recordingLogger,
  scriptedServe,
  startClient,
  WELCOME_LIMITS as limits,
  welcomeOf,
} from '../../support/scripted-serve.js';

const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of closers.splice(0).reverse()) await f();
});

/**
 * A newer serve: logs any client in (its challenge has a field this client does not know), then
 * sends `after` (raw objects) on the same socket.
 */
async function newerServe(after: object[]): Promise<{ url: string; closes: () => number }> {
  const s = await scriptedServe(() => after, { challenge: { pow: 0 } });
  closers.push(() => s.close());
  return s;
}

describe('a client logs in to a newer serve', () => {
  it('ignores unknown fields and frame types, and stays connected', async () => {
    const id = generateIdentity();
    const other = generateIdentity();
    const welcome = welcomeOf(id.peerId);
    const s = await newerServe([
      { type: 'relay-moved', to: 'turn:198.51.100.7:3478' },
      { ...welcome, limits: { ...limits, maxFutureThing: 1 }, features: ['x'] },
      { type: 'presence', peer: other.peerId, online: true, region: 'eu' },
      { type: 'ping', t: 42, node: 'n2' },
    ]);
    const logger = recordingLogger();
    const c = new SignalingClient({ url: s.url, identity: id, logger });
    closers.push(() => c.close());
    const messages: ServerMessage[] = [];
    // A client that refuses the frames drops the connection and retries: fail at once then.
    const ready = new Promise((resolve, reject) => {
      c.once('ready', resolve);
      c.once('retry', (r) => reject(r.error));
    });
    const gotPing = new Promise<void>((resolve) =>
      c.on('message', (m) => {
        messages.push(m);
        if (m.type === 'ping') resolve();
      }),
    );
    let retries = 0;
    c.on('retry', () => retries++);
    c.start();
    expect(await ready).toEqual(welcome);
    await gotPing;
    // Frames in order, each exactly as this client knows it: the extras are gone.
    expect(messages).toEqual([
      { type: 'presence', peer: other.peerId, online: true },
      { type: 'ping', t: 42 },
    ]);
    expect(c.ready).toBe(true);
    expect(s.closes()).toBe(0);
    expect(retries).toBe(0);
    expect(logger.lines).toContainEqual([
      'debug',
      'ignoring unknown frame type from server',
      { type: 'relay-moved' },
    ]);
    expect(logger.lines.filter(([level]) => level === 'warn')).toEqual([]);
  });

  it('still drops the connection on a known frame type with a wrong field', async () => {
    const id = generateIdentity();
    const welcome = welcomeOf(id.peerId);
    const s = await newerServe([
      welcome,
      { type: 'presence', peer: 'not a peer id', online: 'yes' },
    ]);
    const { client: c, logger, disconnected } = startClient(s.url, id);
    closers.push(() => c.close());
    await disconnected;
    expect(c.ready).toBe(false);
    expect(
      logger.lines.some(([level, msg]) => level === 'warn' && msg === 'bad frame from server'),
    ).toBe(true);
  });
});
