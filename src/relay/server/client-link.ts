/**
 * The server's side of one client transport: a UDP 5-tuple on the listening socket, or one TCP
 * connection (RFC 8656 §3.1). Requests are answered and relayed data delivered through `send`.
 */
import net from 'node:net';
import type { Endpoint, UdpSocket } from '../../net/index.js';
import { KeyedCounter, sourceKey } from '../../stun/rate-limiter.js';
import type { Clock, TimerHandle } from '../../util/clock.js';
import { MAX_TCP_SEND_QUEUE_BYTES } from '../constants.js';
import type { ClientTransport } from '../five-tuple.js';
import type { StreamFrameKind } from '../stream-framer.js';
import { StreamDeframer } from '../stream-framer.js';

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
  /** A connection refused at once (`reason`: the server's or the address's cap), or closed
   *  because it held no allocation for `noAllocationTimeoutMs`. */
  onRefused?(reason: 'tcp-total' | 'tcp-per-ip' | 'tcp-no-allocation'): void;
}

/** Issue 8, finding 6: bounds on TURN-over-TCP connections. */
export interface TcpLinkLimits {
  clock: Clock;
  maxConnections: number;
  /**
   * Connections WITHOUT an allocation per client IPv4 address / IPv6 /64 (those with one are
   * bounded by the per-address allocation cap).
   */
  maxPendingPerIp: number;
  /** A connection without an allocation this long is closed. */
  noAllocationTimeoutMs: number;
}

export class TcpClientLink implements ClientLink {
  readonly transport = 'tcp';
  readonly stream = true;
  readonly client: Endpoint;
  readonly server: Endpoint;
  readonly #socket: net.Socket;
  #closed = false;
  #allocation: unknown;
  #idle: TimerHandle | undefined;
  readonly #limits: TcpLinkLimits | undefined;
  readonly #handlers: TcpLinkHandlers;
  /** Counts this link among its address's connections without an allocation while it has none. */
  readonly #pending: { counter: KeyedCounter; key: string; held: boolean } | undefined;

  constructor(
    socket: net.Socket,
    handlers: TcpLinkHandlers,
    limits?: TcpLinkLimits,
    pending?: { counter: KeyedCounter; key: string },
  ) {
    this.#socket = socket;
    this.#limits = limits;
    this.#handlers = handlers;
    this.#pending = pending ? { ...pending, held: true } : undefined;
    this.#armIdle();
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
      this.#idle?.cancel();
      this.#holdPending(false);
      handlers.onClose(this);
    });
  }

  /** RFC 8656 §3.1: one allocation per TCP connection at most; the server keeps it here. While
   *  there is none, the no-allocation timer runs. */
  get allocation(): unknown {
    return this.#allocation;
  }

  set allocation(a: unknown) {
    this.#allocation = a;
    if (a !== undefined) {
      this.#idle?.cancel();
      this.#holdPending(false);
    } else if (!this.#closed) {
      if (!this.#holdPending(true)) {
        this.#handlers.onRefused?.('tcp-per-ip');
        this.#socket.destroy();
        return;
      }
      this.#armIdle();
    }
  }

  /** Take or give back this link's slot among its address's allocation-less connections. */
  #holdPending(hold: boolean): boolean {
    const p = this.#pending;
    if (p === undefined || p.held === hold) return true;
    if (hold && !p.counter.acquire(p.key)) return false;
    if (!hold) p.counter.release(p.key);
    p.held = hold;
    return true;
  }

  #armIdle(): void {
    this.#idle?.cancel();
    const l = this.#limits;
    if (l === undefined || this.#closed) return;
    this.#idle = l.clock.setTimeout(() => {
      if (this.#allocation !== undefined || this.#closed) return;
      this.#handlers.onRefused?.('tcp-no-allocation');
      this.#socket.destroy();
    }, l.noAllocationTimeoutMs);
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
  limits?: TcpLinkLimits,
): Promise<net.Server> {
  const pending = limits ? new KeyedCounter(limits.maxPendingPerIp) : undefined;
  const server = net.createServer((socket) => {
    const key = sourceKey(socket.remoteAddress ?? '');
    if (limits && links.size >= limits.maxConnections) {
      handlers.onRefused?.('tcp-total');
      return void socket.destroy();
    }
    if (pending && !pending.acquire(key)) {
      handlers.onRefused?.('tcp-per-ip');
      return void socket.destroy();
    }
    const link = new TcpClientLink(
      socket,
      {
        ...handlers,
        onClose: (l) => {
          links.delete(l);
          handlers.onClose(l);
        },
      },
      limits,
      pending ? { counter: pending, key } : undefined,
    );
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
