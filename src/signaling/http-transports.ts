/**
 * Delivery for clients that cannot hold a WebSocket: Server-Sent Events (`GET /v1/events`,
 * https://html.spec.whatwg.org/multipage/server-sent-events.html) and long-poll
 * (`GET /v1/poll`). Both are `PeerSession`s of the same delivery engine, so the semantics are
 * the WebSocket's: in mailbox order, retried until acked (`POST /v1/acks`, or `?ack=` on the next
 * poll), deduplicated by id at the receiver.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TimerHandle } from '../util/clock.js';
import type { ServerContext } from './context.js';
import type { PeerSession } from './delivery.js';
import type { Notification } from './protocol.js';
import { SignalingErrorCode } from './errors.js';
import { sendJson } from './http-util.js';

/**
 * One SSE event, serialised so that no field can end its line early. The event stream format
 * (WHATWG HTML §9.2.5) splits lines on CR, LF and CRLF, so a field holding one of them could add
 * lines of its own — a forged `event: deliver` with any `from` (issue 8, finding 1), a `retry:`,
 * a fake `error`. So: `event` must be a plain name (a programmer's constant: anything else is a
 * TypeError); an `id` holding CR, LF or NUL (the spec ignores ids with NUL) is left out rather
 * than written (the schema refuses such ids; only rows stored before it could hold one; the id
 * is inside `data` anyway); `data` is split on line breaks into several `data:` lines, which is
 * the format's own escape (the receiver joins them with LF).
 */
export function sseEvent(e: { event: string; data: string; id?: string | undefined }): string {
  if (!/^[a-z][a-z-]{0,31}$/.test(e.event)) throw new TypeError(`bad SSE event name`);
  let out = '';
  if (e.id !== undefined && SSE_ID_OK.test(e.id)) out += `id: ${e.id}\n`;
  out += `event: ${e.event}\n`;
  for (const line of e.data.split(/\r\n|\r|\n/)) out += `data: ${line}\n`;
  return out + '\n';
}
// eslint-disable-next-line no-control-regex
const SSE_ID_OK = /^[^\r\n\u0000]*$/;

export class SseSession implements PeerSession {
  readonly transport = 'sse' as const;
  #heartbeat: TimerHandle | undefined;
  #closed = false;

  #expiry: TimerHandle | undefined;

  constructor(
    readonly peer: string,
    private readonly res: ServerResponse,
    private readonly ctx: ServerContext,
    /** When the session token that opened the stream expires (ms since the epoch). */
    private readonly expires = Infinity,
  ) {}

  start(req: IncomingMessage): void {
    this.res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      // Tell nginx-style proxies not to buffer the stream.
      'x-accel-buffering': 'no',
    });
    this.res.write(
      sseEvent({
        event: 'welcome',
        data: JSON.stringify({ peer: this.peer, server: this.ctx.serverId }),
      }),
    );
    req.on('close', () => this.#ended());
    this.ctx.metrics.connections.inc({ transport: 'sse' });
    this.#beat();
    // The stream must not outlive its token (issue 8, finding 11): at expiry the client gets
    // a SESSION_EXPIRED error event and must authenticate again for a new stream.
    if (Number.isFinite(this.expires)) {
      this.#expiry = this.ctx.clock.setTimeout(
        () =>
          this.close(
            SignalingErrorCode.SESSION_EXPIRED,
            'the session token of this stream expired; authenticate again',
          ),
        Math.max(0, this.expires - this.ctx.clock.now()),
      );
    }
    this.ctx.delivery.attach(this);
  }

  offer(n: Notification): boolean {
    if (this.#closed || this.res.writableLength > this.ctx.limits.maxBufferedBytes) return false;
    this.res.write(sseEvent({ id: n.id, event: 'deliver', data: JSON.stringify(n) }));
    return true;
  }

  close(code: string, message: string): void {
    if (this.#closed) return;
    this.res.write(
      sseEvent({ event: 'error', data: JSON.stringify({ code, message, fatal: true }) }),
    );
    this.res.end();
    this.#ended();
  }

  #ended(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#heartbeat?.cancel();
    this.#expiry?.cancel();
    this.ctx.delivery.detach(this);
  }

  #beat(): void {
    this.#heartbeat = this.ctx.clock.setTimeout(() => {
      if (this.#closed) return;
      this.res.write(': keepalive\n\n');
      this.#beat();
    }, this.ctx.timing.sseHeartbeatMs);
  }
}

/**
 * A long-poll client. It counts as online while a poll is waiting and for a grace period after
 * one returns; notifications offered in between are buffered (bounded by the delivery window —
 * the engine never has more in flight) and returned by the next poll.
 */
export class PollSession implements PeerSession {
  readonly transport = 'poll' as const;
  #buffer: Notification[] = [];
  #waiting: { res: ServerResponse; timer: TimerHandle } | undefined;
  #grace: TimerHandle | undefined;
  #closed = false;

  constructor(
    readonly peer: string,
    private readonly ctx: ServerContext,
    private readonly onEnd: (s: PollSession) => void,
  ) {}

  get closed(): boolean {
    return this.#closed;
  }

  /** A poll request arrived: answer at once if anything waits, else hold it up to `waitMs`. */
  poll(req: IncomingMessage, res: ServerResponse, waitMs: number): void {
    this.#grace?.cancel();
    this.#grace = undefined;
    this.#answer(); // a newer poll supersedes an older one still waiting
    if (this.#buffer.length > 0 || waitMs <= 0) return this.#respond(res);
    const timer = this.ctx.clock.setTimeout(() => this.#answer(), waitMs);
    this.#waiting = { res, timer };
    req.on('close', () => {
      if (this.#waiting?.res !== res) return;
      this.#waiting.timer.cancel();
      this.#waiting = undefined;
      this.#startGrace();
    });
  }

  offer(n: Notification): boolean {
    if (this.#closed || this.#buffer.length >= this.ctx.limits.deliveryWindow * 2) return false;
    this.#buffer.push(n);
    if (this.#waiting) {
      const w = this.#waiting;
      // Let the rest of this pump's batch join the same response.
      queueMicrotask(() => {
        if (this.#waiting === w) this.#answer();
      });
    }
    return true;
  }

  close(code: string, message: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#grace?.cancel();
    if (this.#waiting) {
      this.#waiting.timer.cancel();
      sendJson(this.#waiting.res, 409, { error: { code, message } });
      this.#waiting = undefined;
    }
    this.onEnd(this);
  }

  #answer(): void {
    const w = this.#waiting;
    if (!w) return;
    w.timer.cancel();
    this.#waiting = undefined;
    this.#respond(w.res);
  }

  #respond(res: ServerResponse): void {
    const notifications = this.#buffer;
    this.#buffer = [];
    sendJson(res, 200, { notifications });
    this.#startGrace();
  }

  #startGrace(): void {
    if (this.#closed || this.#waiting) return;
    this.#grace?.cancel();
    this.#grace = this.ctx.clock.setTimeout(() => {
      this.#closed = true;
      this.ctx.delivery.detach(this);
      this.onEnd(this);
    }, this.ctx.timing.pollPresenceGraceMs);
  }
}
