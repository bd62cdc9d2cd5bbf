/**
 * The sending half of one WebSocket connection (ws-connection.ts): backpressure on what serve
 * writes to a peer, and one writev per event-loop turn. Split from the connection so the
 * handshake and frame handling read apart from the buffer accounting.
 */
import type { Socket } from 'node:net';
import type WebSocket from 'ws';
import type { ServerContext } from './context.js';
import { SignalingErrorCode } from './errors.js';
import { encodeFrame, type ServerMessage } from './protocol.js';

/** WebSocket close codes (RFC 6455 §7.4.1). */
export const WS_CLOSE = { policy: 1008, tooBig: 1009, goingAway: 1001 } as const;

export class WsSender {
  #corked = false;
  /** Replies dropped in a row for a full send buffer (LIMITS.maxUnreadReplies closes). */
  #unreadReplies = 0;

  constructor(
    private readonly ws: WebSocket,
    private readonly ctx: ServerContext,
    /** Close the connection with a fatal error (the connection's `fail`). */
    private readonly fail: (code: string, message: string) => void,
  ) {}

  /**
   * The send buffer is under `maxBufferedBytes` (ws counts what its sender queued and what the
   * socket has not handed to the kernel, corked frames included). A peer whose buffer falls
   * under it reads: its count of unread replies restarts.
   */
  hasRoom(): boolean {
    if (this.ws.bufferedAmount > this.ctx.limits.maxBufferedBytes) return false;
    this.#unreadReplies = 0;
    return true;
  }

  /**
   * Room for a reply to one of the peer's own requests? If not, the reply is dropped (counted,
   * reason `slow_consumer`) instead of growing the buffer without bound, and a peer that keeps
   * asking without reading — `maxUnreadReplies` drops in a row — is closed with
   * NATPUSH_ERR_SLOW_CONSUMER. Nothing it is owed is lost by that: notifications wait in the
   * mailbox, and every request can simply be asked again.
   */
  roomForReply(type: ServerMessage['type']): boolean {
    if (this.hasRoom()) return true;
    this.ctx.metrics.drops.inc({ reason: 'slow_consumer', type });
    if (++this.#unreadReplies >= this.ctx.limits.maxUnreadReplies) {
      this.fail(
        SignalingErrorCode.SLOW_CONSUMER,
        `${this.#unreadReplies} replies not read: more than ${this.ctx.limits.maxBufferedBytes} bytes wait to be read`,
      );
      const cut = this.ctx.clock.setTimeout(
        () => this.ws.terminate(),
        this.ctx.timing.slowConsumerLingerMs,
      );
      this.ws.once('close', () => cut.cancel());
    }
    return false;
  }

  /** A reply: written if there is room (`roomForReply`), dropped and counted otherwise. */
  reply(m: ServerMessage): void {
    if (this.roomForReply(m.type)) this.write(m);
  }

  /**
   * Write without a check: only the handshake (`challenge`, `welcome`: one each, on an empty
   * buffer), the final fatal `error`, and frames whose caller checked `hasRoom`.
   */
  write(m: ServerMessage): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    this.#cork();
    this.ws.send(encodeFrame(m));
  }

  /**
   * Coalesce every frame written to this socket in one event-loop turn into one writev: a pump
   * sends up to a window of `deliver` frames at once, and a syscall per frame was a quarter of
   * the server's CPU under load (bench/signaling-throughput). Node counts cork/uncork pairs, so
   * ws's own per-frame cork inside ours is fine.
   */
  #cork(): void {
    if (this.#corked) return;
    const socket = (this.ws as unknown as { _socket?: Socket })._socket;
    if (!socket) return;
    this.#corked = true;
    socket.cork();
    process.nextTick(() => {
      this.#corked = false;
      socket.uncork();
    });
  }
}
