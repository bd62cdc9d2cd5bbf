/**
 * STUN over TCP (RFC 8489 §6.2.2): messages are framed by their own length field. Bounded: a
 * frame larger than TCP_LIMITS.maxFrameBytes, anything malformed, or TCP_LIMITS.idleTimeoutMs of
 * silence closes the connection; at most TCP_LIMITS.maxConnections connections, and
 * TCP_LIMITS.maxConnectionsPerIp from one IPv4 address / IPv6 /64 (issue 8, finding 6). A client
 * that does not read its answers stops being read (TCP_LIMITS.maxQueuedReplyBytes): its requests
 * wait in the kernel, not its answers in our memory.
 */
import net from 'node:net';
import type { Endpoint } from '../net/udp.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import type { Decision } from './binding-responder.js';
import { HEADER_BYTES, TCP_LIMITS } from './constants.js';
import { isStunMessage, stunMessageLength } from './message.js';
import { KeyedCounter, sourceKey } from './rate-limiter.js';

export interface StunTcpListener {
  address(): Endpoint;
  close(): Promise<void>;
}

export interface TcpHandlerOptions {
  clock: Clock;
  logger: Logger;
  handle(data: Uint8Array, from: Endpoint): Decision;
  onConnection(): void;
  /** A connection closed at once: the server or its source address has no slot left. */
  onRefused?(): void;
  /** Reading paused: the client left more than TCP_LIMITS.maxQueuedReplyBytes unread. */
  onSlowReader?(): void;
}

export async function listenTcp(at: Endpoint, opts: TcpHandlerOptions): Promise<StunTcpListener> {
  const conns = new Set<net.Socket>();
  const perIp = new KeyedCounter(TCP_LIMITS.maxConnectionsPerIp);
  const server = net.createServer((sock) => {
    const key = sourceKey(sock.remoteAddress ?? '');
    if (conns.size >= TCP_LIMITS.maxConnections || !perIp.acquire(key)) {
      opts.onRefused?.();
      sock.destroy();
      return;
    }
    conns.add(sock);
    opts.onConnection();
    sock.on('close', () => {
      conns.delete(sock);
      perIp.release(key);
    });
    serveConnection(sock, opts);
  });
  server.maxConnections = TCP_LIMITS.maxConnections;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: at.address, port: at.port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    address() {
      const a = server.address() as net.AddressInfo;
      return { address: a.address, port: a.port };
    },
    close() {
      for (const c of conns) c.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

function serveConnection(sock: net.Socket, opts: TcpHandlerOptions): void {
  const from: Endpoint = { address: sock.remoteAddress ?? '', port: sock.remotePort ?? 0 };
  let buffered: Buffer = Buffer.alloc(0);
  let idle: TimerHandle | undefined;
  const armIdle = (): void => {
    idle?.cancel();
    idle = opts.clock.setTimeout(() => sock.destroy(), TCP_LIMITS.idleTimeoutMs);
  };
  armIdle();
  sock.on('close', () => idle?.cancel());
  sock.on('error', (err) => opts.logger.debug('stun tcp error', { err: err.message }));
  sock.on('data', (chunk: Buffer) => {
    armIdle();
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
    for (;;) {
      if (buffered.length >= HEADER_BYTES && !isStunMessage(buffered)) {
        opts.handle(buffered.subarray(0, HEADER_BYTES), from); // counted as not-stun
        return void sock.destroy();
      }
      const len = stunMessageLength(buffered);
      if (len === undefined) break;
      if (len > TCP_LIMITS.maxFrameBytes) return void sock.destroy();
      if (buffered.length < len) break;
      const frame = buffered.subarray(0, len);
      buffered = buffered.subarray(len);
      const d = opts.handle(frame, from);
      // A stream cannot resynchronise after garbage: close instead of guessing (§6.2.2).
      if (d.kind === 'drop' && (d.reason === 'malformed' || d.reason === 'not-stun'))
        return void sock.destroy();
      if (d.kind === 'reply') sock.write(d.bytes);
    }
    if (sock.writableLength > TCP_LIMITS.maxQueuedReplyBytes && !sock.isPaused()) {
      // A slow reader: stop reading until its answers drain (the idle timer, not re-armed
      // without data, closes it if they never do).
      sock.pause();
      opts.onSlowReader?.();
      sock.once('drain', () => sock.resume());
    }
  });
}
