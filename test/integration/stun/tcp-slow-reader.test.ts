/**
 * STUN over TCP, a client that pipelines Binding requests and never reads the answers
 * (tcp-server.ts, TCP_LIMITS.maxQueuedReplyBytes). Before, every answer was queued in the
 * server's memory: 20 MB of requests made ≥ 32 MB of queued answers on one connection, and eight
 * connections per address (thousands of addresses) multiplied it. Now the server stops reading
 * the connection once its unread answers pass 64 KiB and resumes when they drain: the requests
 * wait in the kernel, and a client that reads again gets every answer.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  BINDING_REQUEST,
  StunMessageBuilder,
  StunServer,
  stunMessageLength,
} from '../../../src/stun/index.js';

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

const POLL = { timeout: 30_000, interval: 50 };

describe('STUN over TCP: a slow reader', () => {
  it('is paused, not buffered for; reading again gets every answer', async () => {
    const server = await StunServer.start({
      listen: { address: '127.0.0.1', port: 0 },
      tcp: true,
      rateLimit: false, // no per-source limit: only the backlog bound holds the answers back
    });
    cleanup.push(() => server.close());
    const at = server.tcpAddress()!;
    const sock = net.connect(at.port, at.address);
    cleanup.push(() => sock.destroy());
    await new Promise<void>((resolve, reject) =>
      sock.once('connect', resolve).once('error', reject),
    );
    sock.pause(); // never read (until below)
    const one = Buffer.from(new StunMessageBuilder(BINDING_REQUEST).build());
    const count = 1_000_000; // 20 MB of requests, ≥ 32 MB of answers: beyond loopback socket buffers
    const batch = Buffer.concat(Array.from({ length: 10_000 }, () => one));
    for (let i = 0; i < count / 10_000; i++) sock.write(batch);
    await expect.poll(() => server.stats.tcpSlowReaders, POLL).toBeGreaterThanOrEqual(1);
    // Paused: what it answered fits the kernel's buffers and our bound, not the 2M requests.
    const answeredWhenPaused = server.stats.answered.binding;
    expect(answeredWhenPaused).toBeLessThan(count);
    // Reading again drains the answers, the server resumes, and every request is answered.
    let got = 0;
    let buf: Buffer = Buffer.alloc(0);
    sock.on('data', (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      let off = 0;
      for (
        let len = stunMessageLength(buf.subarray(off));
        len !== undefined && buf.length - off >= len;
        len = stunMessageLength(buf.subarray(off))
      ) {
        got++;
        off += len;
      }
      buf = buf.subarray(off);
    });
    sock.resume();
    await expect.poll(() => got, { timeout: 120_000, interval: 200 }).toBe(count);
    expect(server.stats.answered.binding).toBe(count);
  }, 180_000);
});
