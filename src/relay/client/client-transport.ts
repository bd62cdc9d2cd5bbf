/**
 * How a TURN client reaches its server: over the peer's shared UDP socket (DESIGN.md "one socket
 * per peer"), or over TCP (RFC 8656 §3.1) when UDP is blocked. Both deliver whole frames — STUN
 * messages and ChannelData — to one listener; UDP filters out datagrams from anyone but the
 * server, so the same socket keeps serving STUN checks and direct paths.
 */
import net from 'node:net';
import type { Endpoint, UdpSocket } from '../../net/index.js';
import { normalizeAddress } from '../../net/index.js';
import type { Clock } from '../../util/clock.js';
import { TURN_ERR, TurnClientError } from '../errors.js';
import { StreamDeframer } from '../stream-framer.js';
import { DEFAULT_TCP_CONNECT_TIMEOUT_MS, type TurnClientOptions } from './options.js';

export type FrameHandler = (frame: Uint8Array) => void;

export interface TurnClientTransport {
  readonly kind: 'udp' | 'tcp';
  /** TCP pads ChannelData and needs no retransmission. */
  readonly stream: boolean;
  send(bytes: Uint8Array): void;
  /** Our local address on this transport. */
  local(): Endpoint;
  /** Stop delivering frames; closes the socket only if the transport owns it. */
  close(): Promise<void>;
  readonly closed: boolean;
}

export class UdpTurnTransport implements TurnClientTransport {
  readonly kind = 'udp';
  readonly stream = false;
  readonly #socket: UdpSocket;
  readonly #server: Endpoint;
  readonly #ownsSocket: boolean;
  readonly #off: () => void;
  #closed = false;

  constructor(socket: UdpSocket, server: Endpoint, onFrame: FrameHandler, ownsSocket: boolean) {
    this.#socket = socket;
    this.#server = server;
    this.#ownsSocket = ownsSocket;
    const serverAddress = normalizeAddress(server.address);
    this.#off = socket.onMessage((data, from) => {
      // Only the server's datagrams, and only TURN's first bytes (RFC 7983: STUN 0–3,
      // ChannelData 64–79); everything else on the shared socket belongs to someone else.
      const b0 = data[0] ?? 0xff;
      if (b0 > 3 && (b0 < 0x40 || b0 > 0x4f)) return;
      if (from.port !== server.port || normalizeAddress(from.address) !== serverAddress) return;
      onFrame(data);
    });
  }

  get closed(): boolean {
    return this.#closed || this.#socket.closed;
  }

  send(bytes: Uint8Array): void {
    if (!this.closed) this.#socket.send(bytes, this.#server);
  }

  local(): Endpoint {
    return this.#socket.address();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#off();
    if (this.#ownsSocket) await this.#socket.close();
  }
}

export class TcpTurnTransport implements TurnClientTransport {
  readonly kind = 'tcp';
  readonly stream = true;
  readonly #socket: net.Socket;
  #closed = false;

  private constructor(socket: net.Socket, onFrame: FrameHandler, onClose: () => void) {
    this.#socket = socket;
    const deframer = new StreamDeframer((f) => onFrame(f));
    socket.on('data', (chunk: Buffer) => {
      try {
        deframer.push(chunk);
      } catch {
        socket.destroy();
      }
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      this.#closed = true;
      onClose();
    });
  }

  /**
   * Connect within `timeoutMs` (a UDP-blocked network may black-hole TCP too); the failure is a
   * TurnClientError TIMEOUT or CLOSED (refused, reset), like a request's.
   */
  static connect(
    server: Endpoint,
    onFrame: FrameHandler,
    onClose: () => void,
    o: { clock: Clock; timeoutMs: number },
  ): Promise<TcpTurnTransport> {
    const { clock, timeoutMs } = o;
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: server.address, port: server.port });
      socket.setNoDelay(true);
      const timer = clock.setTimeout(() => {
        socket.destroy();
        reject(
          new TurnClientError(
            TURN_ERR.TIMEOUT,
            `no TCP connection to the TURN server in ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
      const onError = (err: Error) => {
        timer.cancel();
        socket.destroy();
        reject(
          new TurnClientError(
            TURN_ERR.CLOSED,
            `TCP to the TURN server: ${err.message}`,
            undefined,
            {
              cause: err,
            },
          ),
        );
      };
      socket.once('error', onError);
      socket.once('connect', () => {
        timer.cancel();
        socket.off('error', onError);
        resolve(new TcpTurnTransport(socket, onFrame, onClose));
      });
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  send(bytes: Uint8Array): void {
    if (!this.#closed) this.#socket.write(bytes);
  }

  local(): Endpoint {
    return { address: this.#socket.localAddress ?? '', port: this.#socket.localPort ?? 0 };
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return new Promise((resolve) => {
      this.#socket.once('close', () => resolve());
      this.#socket.end();
      this.#socket.destroySoon();
    });
  }
}

/** The client's transport as `o` asks: TCP to the server, the caller's UDP socket, or our own. */
export async function connectTransport(
  o: TurnClientOptions,
  clock: Clock,
  onFrame: FrameHandler,
  onClosed: () => void,
): Promise<TurnClientTransport> {
  if (o.transport === 'tcp') {
    return TcpTurnTransport.connect(o.server, onFrame, onClosed, {
      clock,
      timeoutMs: o.requestTimeoutMs ?? DEFAULT_TCP_CONNECT_TIMEOUT_MS,
    });
  }
  let socket = o.socket;
  const owns = socket === undefined;
  if (!socket) {
    if (!o.net) throw new TypeError('TurnClient over UDP needs `socket` or `net`');
    socket = await o.net.bindUdp({ port: 0 });
  }
  return new UdpTurnTransport(socket, o.server, onFrame, owns);
}
