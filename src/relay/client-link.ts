/**
 * The server's side of one client transport: a UDP 5-tuple on the listening socket, or one TCP
 * connection (RFC 8656 §3.1). Requests are answered and relayed data delivered through `send`.
 */
import net from 'node:net';
import type { Endpoint, UdpSocket } from '../net/index.js';
import { MAX_TCP_SEND_QUEUE_BYTES } from './constants.js';
import type { ClientTransport } from './five-tuple.js';
import type { StreamFrameKind } from './stream-framer.js';
import { StreamDeframer } from './stream-framer.js';

export interface ClientLink {
  readonly transport: ClientTransport;
  readonly client: Endpoint;
  readonly server: Endpoint;
  /** Stream transports pad ChannelData to 4 bytes (RFC 8656 §12.5). */
  readonly stream: boolean;
  /** Queue bytes to the client; false when dropped because the client does not keep up. */
  send(bytes: Uint8Array): boolean;
  readonly closed: boolean;
}

export class UdpClientLink implements ClientLink {
  readonly transport = 'udp';
  readonly stream = false;
  readonly closed = false;
  constructor(
    readonly socket: UdpSocket,
    readonly client: Endpoint,
    readonly server: Endpoint,
  ) {}

  send(bytes: Uint8Array): boolean {
    if (this.socket.closed) return false;
    this.socket.send(bytes, this.client);
    return true;
  }
}

export interface TcpLinkHandlers {
  onFrame(link: TcpClientLink, frame: Uint8Array, kind: StreamFrameKind): void;
  onClose(link: TcpClientLink): void;
  onFramingError(link: TcpClientLink, err: Error): void;
}

export class TcpClientLink implements ClientLink {
  readonly transport = 'tcp';
  readonly stream = true;
  readonly client: Endpoint;
  readonly server: Endpoint;
  /** RFC 8656 §3.1: one allocation per TCP connection at most; the server keeps it here. */
  allocation: unknown;
  readonly #socket: net.Socket;
  #closed = false;

  constructor(socket: net.Socket, handlers: TcpLinkHandlers) {
    this.#socket = socket;
    this.client = { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 };
    this.server = { address: socket.localAddress ?? '', port: socket.localPort ?? 0 };
    socket.setNoDelay(true);
    const deframer = new StreamDeframer((f, k) => handlers.onFrame(this, f, k));
    socket.on('data', (chunk: Buffer) => {
      try {
        deframer.push(chunk);
      } catch (err) {
        handlers.onFramingError(this, err as Error);
        socket.destroy();
      }
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      this.#closed = true;
      handlers.onClose(this);
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  send(bytes: Uint8Array): boolean {
    if (this.#closed || this.#socket.writableLength > MAX_TCP_SEND_QUEUE_BYTES) return false;
    this.#socket.write(bytes);
    return true;
  }

  close(): void {
    this.#socket.destroy();
  }
}

/** Listen for TURN-over-TCP clients on node:net. */
export async function listenTcp(
  address: string,
  port: number,
  handlers: TcpLinkHandlers,
  links: Set<TcpClientLink>,
): Promise<net.Server> {
  const server = net.createServer((socket) => {
    const link = new TcpClientLink(socket, {
      ...handlers,
      onClose: (l) => {
        links.delete(l);
        handlers.onClose(l);
      },
    });
    links.add(link);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: address, port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}
