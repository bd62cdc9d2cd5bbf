/**
 * WebSocket wiring: the HTTP upgrade on `/v1/ws`, connection limits (total and per address),
 * and one keepalive sweep for all connections (one timer, not one per socket: 50,000 idle peers
 * must cost little). The protocol itself is in ws-connection.ts.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { sourceKey } from '../stun/rate-limiter.js';
import type { TimerHandle } from '../util/clock.js';
import { WS_PATH, WS_SUBPROTOCOL } from './constants.js';
import type { ServerContext } from './context.js';
import { SignalingErrorCode } from './errors.js';
import { WsConnection } from './ws-connection.js';

export class WsGateway {
  readonly #wss: WebSocketServer;
  readonly #conns = new Set<WsConnection>();
  /** Open connections per IPv4 address or IPv6 /64 (sourceKey: one subscriber's prefix). */
  readonly #perAddress = new Map<string, number>();
  #sweepTimer: TimerHandle | undefined;

  constructor(private readonly ctx: ServerContext) {
    this.#wss = new WebSocketServer({
      noServer: true,
      maxPayload: ctx.limits.wsHardMaxPayload,
      // Per-message deflate costs ~300 KB of zlib state per socket; notifications are small.
      perMessageDeflate: false,
      handleProtocols: (protocols) => (protocols.has(WS_SUBPROTOCOL) ? WS_SUBPROTOCOL : false),
    });
    this.#scheduleSweep();
  }

  get connectionCount(): number {
    return this.#conns.size;
  }

  /** Handle an HTTP upgrade; false if the path is not ours (the caller answers 404). */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const path = (req.url ?? '').split('?')[0];
    if (path !== WS_PATH) return false;
    socket.on('error', () => socket.destroy());
    this.#wss.handleUpgrade(req, socket, head, (ws) =>
      this.#onConnection(ws, req.socket.remoteAddress ?? '?', req.socket.localAddress ?? ''),
    );
    return true;
  }

  /**
   * Close every connection (shutdown): error frame and a 1001 close, then wait up to `graceMs`
   * for the closing handshakes before cutting what is left.
   */
  async closeAll(graceMs = 1_000): Promise<void> {
    this.#sweepTimer?.cancel();
    for (const c of [...this.#conns]) {
      if (!c.ready) c.fail(SignalingErrorCode.SHUTTING_DOWN, 'server is shutting down');
    }
    this.ctx.delivery.closeAll(SignalingErrorCode.SHUTTING_DOWN, 'server is shutting down');
    const closed = [...this.#conns]
      .filter((c) => c.ws.readyState !== c.ws.CLOSED)
      .map((c) => new Promise<void>((r) => c.ws.once('close', () => r())));
    let timer: TimerHandle | undefined;
    await Promise.race([
      Promise.all(closed),
      new Promise<void>((r) => (timer = this.ctx.clock.setTimeout(r, graceMs))),
    ]);
    timer?.cancel();
    for (const c of this.#conns) c.ws.terminate();
    this.#wss.close();
  }

  #onConnection(ws: WebSocket, address: string, localAddress: string): void {
    const conn = new WsConnection(ws, address, this.ctx, localAddress);
    this.ctx.metrics.connections.inc({ transport: 'websocket' });
    const key = sourceKey(address);
    const n = (this.#perAddress.get(key) ?? 0) + 1;
    this.#perAddress.set(key, n);
    this.#conns.add(conn);
    ws.on('close', () => this.#onClose(conn));
    ws.on('error', (err) => {
      // ws reports protocol violations (e.g. a frame over maxPayload) here and closes itself.
      this.ctx.metrics.errors.inc({ code: 'ws_' + ((err as { code?: string }).code ?? 'error') });
      ws.terminate();
    });
    if (this.ctx.closing)
      return conn.fail(SignalingErrorCode.SHUTTING_DOWN, 'server is shutting down');
    if (this.#conns.size > this.ctx.limits.maxConnections) {
      return conn.fail(SignalingErrorCode.TOO_MANY_CONNECTIONS, 'server is full');
    }
    if (n > this.ctx.limits.maxConnectionsPerAddress) {
      conn.fail(
        SignalingErrorCode.TOO_MANY_CONNECTIONS,
        `more than ${this.ctx.limits.maxConnectionsPerAddress} connections from ${key}`,
      );
    }
  }

  #onClose(conn: WsConnection): void {
    if (!this.#conns.delete(conn)) return;
    const key = sourceKey(conn.address);
    const n = (this.#perAddress.get(key) ?? 1) - 1;
    if (n <= 0) this.#perAddress.delete(key);
    else this.#perAddress.set(key, n);
    conn.onClosed();
  }

  /** Ping everyone; terminate those that did not answer the previous ping (RFC 6455 §5.5.2). */
  #sweep(): void {
    const now = this.ctx.clock.now();
    for (const c of this.#conns) {
      if (c.awaitingPong) {
        c.ws.terminate();
        continue;
      }
      c.awaitingPong = true;
      c.pingSentAt = now;
      try {
        c.ws.ping();
      } catch {
        c.ws.terminate();
      }
    }
  }

  #scheduleSweep(): void {
    this.#sweepTimer = this.ctx.clock.setTimeout(() => {
      try {
        this.#sweep();
      } catch (err) {
        this.ctx.logger.error('keepalive sweep failed', { err: String(err) });
      }
      this.#scheduleSweep();
    }, this.ctx.timing.pingIntervalMs);
  }
}
