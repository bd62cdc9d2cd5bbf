/**
 * The TURN client over a real TCP connection runs its transactions in the engine's reliable mode
 * (RFC 8489 §6.2.2): a request is written once, never retransmitted, and fails at its timeout; a
 * connection the server drops fails it at once.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { Endpoint } from '../../../src/net/index.js';
import { TURN_ERR, TurnClient, isTurnClientError } from '../../../src/relay/index.js';
import { decodeStunMessage, Method, stunMessageLength } from '../../../src/stun/index.js';

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of closers.reverse()) await c().catch(() => {});
  closers.length = 0;
});

/** A TCP "TURN server" on loopback that reads STUN frames and hands each to `onFrame`. */
async function tcpServer(
  onFrame: (frame: Uint8Array, socket: net.Socket) => void,
): Promise<Endpoint> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buf = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      for (;;) {
        const len = stunMessageLength(buf);
        if (len === undefined || buf.length < len) return;
        onFrame(Uint8Array.from(buf.subarray(0, len)), socket);
        buf = buf.subarray(len);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  const { port } = server.address() as net.AddressInfo;
  return { address: '127.0.0.1', port };
}

describe('TurnClient over TCP (reliable transactions)', () => {
  it('writes a request once, never retransmits, and times out', async () => {
    const frames: Uint8Array[] = [];
    const server = await tcpServer((f) => frames.push(f));
    const err = await TurnClient.allocate({
      server,
      transport: 'tcp',
      username: 'u',
      password: 'p',
      requestTimeoutMs: 1_200, // > 2 UDP RTOs (500 + 1000 ms): UDP would have sent 2 more
    }).catch((e: unknown) => e);
    expect(isTurnClientError(err) && err.code).toBe(TURN_ERR.TIMEOUT);
    expect(frames).toHaveLength(1);
    expect(decodeStunMessage(frames[0]!).method).toBe(Method.Allocate);
  });

  it('a connection the server closes fails the outstanding request at once', async () => {
    const server = await tcpServer((_f, socket) => socket.destroy());
    const err = await TurnClient.allocate({
      server,
      transport: 'tcp',
      username: 'u',
      password: 'p',
      requestTimeoutMs: 60_000, // would hang the test if closing did not fail the request
    }).catch((e: unknown) => e);
    expect(isTurnClientError(err) && err.code).toBe(TURN_ERR.CLOSED);
  });
});
