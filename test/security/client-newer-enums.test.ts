/**
 * The real SignalingClient against a serve that sends enum values this client does not know
 * (src/signaling/open-enum.ts), played by a hand-written WebSocket server on loopback: a newer
 * transport, a new candidate kind, a new NAT allocation pattern, a new error code. The client
 * stays connected and hands the application each frame read by its field class; a value of the
 * wrong JSON type still drops the connection, whoever sends it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { SignalingClient } from '../../src/signaling/client.js';
import { generateIdentity } from '../../src/signaling/identity.js';
import type { ServerMessage } from '../../src/signaling/protocol.js';
import {
  recordingLogger,
  scriptedServe,
  startClient,
  welcomeOf as welcome,
} from '../support/scripted-serve.js';
import { within } from './signaling-helpers.js';

const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of closers.splice(0).reverse()) await f();
});

/** A serve that logs any client in, then sends `after(peer)` on the same socket. */
async function serveSending(
  after: (peer: string) => object[],
): Promise<{ url: string; closes: () => number }> {
  const s = await scriptedServe(after);
  closers.push(() => s.close());
  return s;
}

const other = generateIdentity().peerId;
const cand = { type: 'srflx', protocol: 'udp', address: '203.0.113.1', port: 4000 };

describe('a client takes new enum values from serve without dropping the connection', () => {
  it('each field class reads its unknown value; the connection stays up', async () => {
    const id = generateIdentity();
    const s = await serveSending((peer) => [
      welcome(peer),
      { type: 'delivered', id: 'n1', to: other, via: 'webtransport' },
      { type: 'presence', peer: other, online: true, transport: 'webtransport' },
      {
        type: 'candidates',
        from: other,
        rid: 'r1',
        candidates: [{ ...cand, type: 'nat64' }, cand, { ...cand, protocol: 'quic' }],
        nat: { mapping: 'endpoint-independent', allocation: 'interleaved' },
      },
      { type: 'error', code: 'NATPUSH_ERR_FROM_THE_FUTURE', message: 'm', fatal: false },
      { type: 'ping', t: 42 },
    ]);
    const logger = recordingLogger();
    const c = new SignalingClient({ url: s.url, identity: id, logger });
    closers.push(() => c.close());
    const messages: ServerMessage[] = [];
    let retries = 0;
    c.on('retry', () => retries++);
    const gotPing = new Promise<void>((resolve, reject) => {
      c.on('message', (m) => {
        messages.push(m);
        if (m.type === 'ping') resolve();
      });
      // A client that refuses a frame drops the connection and retries: fail at once then.
      c.once('retry', (r) => reject(r.error));
    });
    c.start();
    await within(gotPing, 20_000, 'the frames up to the ping');
    expect(messages).toEqual([
      { type: 'delivered', id: 'n1', to: other, via: 'unknown' },
      { type: 'presence', peer: other, online: true },
      {
        type: 'candidates',
        from: other,
        rid: 'r1',
        candidates: [cand],
        nat: { mapping: 'endpoint-independent' },
      },
      { type: 'error', code: 'NATPUSH_ERR_FROM_THE_FUTURE', message: 'm', fatal: false },
      { type: 'ping', t: 42 },
    ]);
    expect(c.ready).toBe(true);
    expect(s.closes()).toBe(0);
    expect(retries).toBe(0);
    expect(logger.lines.filter(([level]) => level === 'warn')).toEqual([]);
  });

  it('an enum value of the wrong JSON type still drops the connection', async () => {
    const id = generateIdentity();
    const s = await serveSending((peer) => [
      welcome(peer),
      { type: 'delivered', id: 'n1', to: other, via: 7 },
    ]);
    const { client: c, logger, disconnected } = startClient(s.url, id);
    closers.push(() => c.close());
    await within(disconnected, 20_000, 'the client dropping the connection');
    expect(c.ready).toBe(false);
    expect(
      logger.lines.some(([level, msg]) => level === 'warn' && msg === 'bad frame from server'),
    ).toBe(true);
  });
});
