/**
 * The client side of the signaling protocol: one WebSocket to the server, authenticated with
 * the peer's identity (hello → challenge → auth → welcome), re-established after every loss with
 * exponential backoff and jitter until closed. It knows frames, not notifications: the peer
 * library (src/peer) builds delivery semantics on top.
 */
import { EventEmitter } from 'node:events';
import WebSocket from 'ws';
import type { Clock, TimerHandle } from '../util/clock.js';
import { systemClock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import { silentLogger } from '../util/logger.js';
import { backoffDelay, type BackoffOptions } from './backoff.js';
import { BACKOFF, LIMITS, PROTOCOL_VERSION, WS_PATH, WS_SUBPROTOCOL } from './constants.js';
import { SignalingError, SignalingErrorCode } from './errors.js';
import { signChallenge, type Identity } from './identity.js';
import {
  decodeServerFrame,
  encodeFrame,
  ID_PATTERN,
  type ClientMessage,
  type ServerMessage,
} from './protocol.js';

export interface SignalingClientOptions {
  /** Server base URL: `http://host:port` or `ws://host:port` (the `/v1/ws` path is added). */
  url: string;
  identity: Identity;
  /** Admission token if the server requires one (`serve --peer-token`). */
  peerToken?: string;
  /**
   * This peer's region label (`hello.region`): serve names a relay of that region in its TURN
   * credentials when its fleet has one. Needs a serve that knows the field (older ones refuse it).
   */
  region?: string;
  /** Reconnect backoff (default constants.ts BACKOFF). */
  backoff?: BackoffOptions;
  clock?: Clock;
  logger?: Logger;
  /** Extra `ws` client options (e.g. `localAddress` for benchmarks). */
  wsOptions?: WebSocket.ClientOptions;
  /**
   * Give up on one attempt whose TCP + WebSocket opening handshake has not completed in this long
   * (default 10,000 ms). A black hole (a listener that never answers) costs one such wait per
   * attempt; a closed port fails at once.
   */
  handshakeTimeoutMs?: number;
}

/** One failed attempt and when the next one starts: for "retrying in N s" messages. */
export interface RetryInfo {
  /** 1 for the first retry. */
  attempt: number;
  delayMs: number;
  error: SignalingError;
}

export type Welcome = Extract<ServerMessage, { type: 'welcome' }>;

/** Errors after which reconnecting cannot help: the client stops and reports them. */
const TERMINAL = new Set<string>([
  SignalingErrorCode.ADMISSION_DENIED,
  SignalingErrorCode.UNSUPPORTED_VERSION,
  SignalingErrorCode.PEER_ID_MISMATCH,
  SignalingErrorCode.REPLACED,
]);

export interface SignalingClientEvents {
  ready: [Welcome];
  message: [ServerMessage];
  disconnected: [SignalingError];
  fatal: [SignalingError];
  /** An attempt failed (or a connection was lost); the next attempt starts in `delayMs`. */
  retry: [RetryInfo];
}

export function wsUrl(base: string): string {
  const u = new URL(base);
  if (u.protocol === 'http:') u.protocol = 'ws:';
  else if (u.protocol === 'https:') u.protocol = 'wss:';
  if (u.pathname === '/' || u.pathname === '') u.pathname = WS_PATH;
  return u.toString();
}

export class SignalingClient extends EventEmitter<SignalingClientEvents> {
  readonly #o: SignalingClientOptions;
  readonly #clock: Clock;
  readonly #logger: Logger;
  #ws: WebSocket | undefined;
  #ready = false;
  #attempt = 0;
  #stopped = false;
  #retryTimer: TimerHandle | undefined;
  #lastError: SignalingError | undefined;
  #lastFailure: SignalingError | undefined;
  /**
   * Server clock minus ours, from the last `welcome` (for `punch-start.at`): its `time` was
   * stamped about one one-way trip before it arrived, half the hello → challenge round trip (the
   * challenge is answered at once). Without that correction every punch started one one-way
   * delay late on both sides (25 ms of the time to a direct path at 25 ms links).
   */
  clockOffsetMs = 0;
  #helloAt = 0;
  #handshakeRttMs = 0;
  welcome: Welcome | undefined;

  constructor(o: SignalingClientOptions) {
    super();
    if (o.region !== undefined && !ID_PATTERN.test(o.region))
      throw new TypeError(
        `region must be 1-64 of [A-Za-z0-9_.:-], got ${JSON.stringify(o.region)}`,
      );
    this.#o = o;
    this.#clock = o.clock ?? systemClock;
    this.#logger = o.logger ?? silentLogger;
  }

  get ready(): boolean {
    return this.#ready;
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  /** Why the last attempt failed (undefined while connected or before the first failure). */
  get lastError(): SignalingError | undefined {
    return this.#lastFailure;
  }

  /** Start connecting (and keep reconnecting until `close()`). */
  start(): void {
    if (this.#stopped) throw new TypeError('client was closed; make a new one');
    if (!this.#ws) this.#connect();
  }

  /** Send a frame if authenticated; false otherwise (callers resend after `ready`). */
  send(m: ClientMessage): boolean {
    if (!this.#ready || this.#ws?.readyState !== WebSocket.OPEN) return false;
    this.#ws.send(encodeFrame(m));
    return true;
  }

  /** Stop for good and close the socket; resolves when it is closed. */
  async close(): Promise<void> {
    this.#stopped = true;
    this.#retryTimer?.cancel();
    const ws = this.#ws;
    if (!ws || ws.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      ws.once('close', () => resolve());
      if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
      else ws.close(1000);
      // Do not wait forever on a peer that never answers the close handshake.
      this.#clock.setTimeout(() => {
        ws.terminate();
        resolve();
      }, 2_000);
    });
  }

  #connect(): void {
    this.#lastError = undefined;
    const ws = new WebSocket(wsUrl(this.#o.url), WS_SUBPROTOCOL, {
      maxPayload: LIMITS.wsHardMaxPayload,
      perMessageDeflate: false,
      handshakeTimeout: this.#o.handshakeTimeoutMs ?? 10_000,
      ...this.#o.wsOptions,
    });
    this.#ws = ws;
    ws.on('open', () => {
      this.#helloAt = this.#clock.now();
      this.#send(ws, {
        type: 'hello',
        v: PROTOCOL_VERSION,
        peer: this.#o.identity.peerId,
        publicKey: this.#o.identity.publicKey,
        ...(this.#o.peerToken ? { token: this.#o.peerToken } : {}),
        ...(this.#o.region ? { region: this.#o.region } : {}),
      });
    });
    ws.on('message', (data, isBinary) => this.#onFrame(ws, data, isBinary));
    ws.on('error', (err) => {
      this.#lastError ??= new SignalingError(SignalingErrorCode.CONNECTION_CLOSED, describe(err), {
        cause: err,
      });
    });
    ws.on('close', (code) => this.#onClose(ws, code));
  }

  #send(ws: WebSocket, m: ClientMessage): void {
    if (ws.readyState === WebSocket.OPEN) ws.send(encodeFrame(m));
  }

  #onFrame(ws: WebSocket, data: WebSocket.RawData, isBinary: boolean): void {
    let m: ServerMessage;
    try {
      if (isBinary)
        throw new SignalingError(SignalingErrorCode.BAD_FRAME, 'binary frame from server');
      const d = decodeServerFrame(data.toString(), LIMITS.wsHardMaxPayload);
      if (!d.known) {
        // A frame type added to serve after this client was built (protocol.ts header:
        // Compatibility): nothing here can act on it, and the connection is fine.
        this.#logger.debug('ignoring unknown frame type from server', { type: d.type });
        return;
      }
      m = d.message;
    } catch (err) {
      // Not JSON, too large, or a known type with fields of the wrong JSON type: no version of
      // serve sends that. (A new enum value is not among them: open-enum.ts reads it.)
      this.#logger.warn('bad frame from server', { err: String(err) });
      ws.terminate();
      return;
    }
    if (m.type === 'challenge') {
      this.#handshakeRttMs = Math.max(0, this.#clock.now() - this.#helloAt);
      this.#send(ws, {
        type: 'auth',
        nonce: m.nonce,
        signature: signChallenge(this.#o.identity, m),
      });
      return;
    }
    if (m.type === 'welcome') {
      this.#ready = true;
      this.#attempt = 0;
      this.#lastFailure = undefined;
      this.welcome = m;
      this.clockOffsetMs = m.time - (this.#clock.now() - this.#handshakeRttMs / 2);
      this.emit('ready', m);
      return;
    }
    if (m.type === 'error' && m.fatal) {
      this.#lastError = new SignalingError(m.code as SignalingErrorCode, m.message);
    }
    this.emit('message', m);
  }

  #onClose(ws: WebSocket, code: number): void {
    if (this.#ws !== ws) return;
    this.#ws = undefined;
    const wasReady = this.#ready;
    this.#ready = false;
    const err =
      this.#lastError ??
      new SignalingError(SignalingErrorCode.CONNECTION_CLOSED, `connection closed (${code})`);
    this.#lastFailure = err;
    if (wasReady && !this.#stopped) this.emit('disconnected', err);
    if (this.#stopped) return;
    if (TERMINAL.has(err.code)) {
      this.#stopped = true;
      this.emit('fatal', err);
      return;
    }
    const delay = backoffDelay(this.#o.backoff ?? BACKOFF, this.#attempt++);
    this.#logger.debug('reconnecting', { delay, attempt: this.#attempt, err: err.message });
    this.emit('retry', { attempt: this.#attempt, delayMs: delay, error: err });
    this.#retryTimer = this.#clock.setTimeout(() => {
      this.#retryTimer = undefined;
      if (!this.#stopped) this.#connect();
    }, delay);
  }
}

/** A socket error in words; Node's AggregateError (every address of a name failed) has none. */
function describe(err: Error): string {
  if (err.message) return err.message;
  if (err instanceof AggregateError) {
    const inner = (err.errors as unknown[]).map((e) =>
      e instanceof Error ? e.message : String(e),
    );
    if (inner.length > 0) return inner.join('; ');
  }
  return (err as NodeJS.ErrnoException).code ?? err.name;
}
