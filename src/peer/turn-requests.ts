/**
 * Pending `turn-credentials` requests of one Peer: each has a ref, a timeout and an optional
 * AbortSignal; the server's answer (or an `error` frame with the ref) settles it. Requests not
 * yet answered are sent again after a reconnect (`refs()`). Bounded by the callers: a Peer asks
 * once per punch layer and per credential renewal.
 */
import type { ServerMessage } from '../signaling/protocol.js';
import { SignalingError, SignalingErrorCode } from '../signaling/errors.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import type { TurnCredentialsRequestOptions } from './peer-types.js';

/**
 * Short-lived TURN credentials for the server's relay (TURN REST convention): `username` is
 * `expiry:peerId`, valid `ttl` seconds until `expires` (unix seconds); `urls` are RFC 7065
 * `turn:` URIs, UDP first. Hand `username`/`password` to `TurnClient.allocate` or to any WebRTC
 * stack's `iceServers`.
 */
export type TurnCredentialsResult = Omit<
  Extract<ServerMessage, { type: 'turn-credentials' }>,
  'type' | 'ref'
>;

interface PendingTurn {
  timer: TimerHandle;
  resolve: (r: TurnCredentialsResult) => void;
  reject: (e: unknown) => void;
  cleanup: () => void;
}

export class TurnRequests {
  readonly #pending = new Map<string, PendingTurn>();
  readonly #clock: Clock;
  readonly #send: (ref: string) => void;
  readonly #nextRef: () => string;

  /** `nextRef`: the Peer's one ref counter (an `error` frame's ref then names one request). */
  constructor(o: { clock: Clock; send: (ref: string) => void; nextRef: () => string }) {
    this.#clock = o.clock;
    this.#send = o.send;
    this.#nextRef = o.nextRef;
  }

  /** `Peer.turnCredentials`: checked, then sent (now, or after the next welcome). */
  ask(o: TurnCredentialsRequestOptions, closed: boolean): Promise<TurnCredentialsResult> {
    if (closed)
      return Promise.reject(
        new SignalingError(SignalingErrorCode.CONNECTION_CLOSED, 'peer is closed'),
      );
    if (o.signal?.aborted)
      return Promise.reject(new SignalingError(SignalingErrorCode.ABORTED, 'aborted'));
    const timeoutMs = o.timeoutMs ?? 10_000;
    if (!(timeoutMs > 0)) throw new RangeError(`timeoutMs must be > 0, got ${timeoutMs}`);
    return this.request(this.#nextRef(), timeoutMs, o.signal);
  }

  /** Send a request with `ref`; settles with the answer, a timeout or the signal's abort. */
  request(ref: string, timeoutMs: number, signal?: AbortSignal): Promise<TurnCredentialsResult> {
    return new Promise<TurnCredentialsResult>((resolve, reject) => {
      const onAbort = () =>
        this.settle(ref, new SignalingError(SignalingErrorCode.ABORTED, 'aborted'));
      const timer = this.#clock.setTimeout(
        () =>
          this.settle(
            ref,
            new SignalingError(
              SignalingErrorCode.REQUEST_TIMEOUT,
              `no turn-credentials answer in ${timeoutMs} ms`,
            ),
          ),
        timeoutMs,
      );
      this.#pending.set(ref, {
        timer,
        resolve,
        reject,
        cleanup: () => signal?.removeEventListener('abort', onAbort),
      });
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#send(ref);
    });
  }

  has(ref: string): boolean {
    return this.#pending.has(ref);
  }

  /** Refs still waiting (sent again after a reconnect). */
  refs(): string[] {
    return [...this.#pending.keys()];
  }

  /** A new connection: the requests not yet answered go again. */
  resend(): void {
    for (const ref of this.refs()) this.#send(ref);
  }

  /** serve's `turn-credentials` answer. */
  answer(m: Extract<ServerMessage, { type: 'turn-credentials' }>): void {
    const { type: _type, ref, ...result } = m;
    this.settle(ref, result);
  }

  settle(ref: string, outcome: TurnCredentialsResult | Error): void {
    const t = this.#pending.get(ref);
    if (!t) return;
    this.#pending.delete(ref);
    t.timer.cancel();
    t.cleanup();
    if (outcome instanceof Error) t.reject(outcome);
    else t.resolve(outcome);
  }

  /** An `error` frame for the request with this ref: true if there was one. */
  fail(ref: string, e: Error): boolean {
    if (!this.#pending.has(ref)) return false;
    this.settle(ref, e);
    return true;
  }

  failAll(err: Error): void {
    for (const ref of this.refs()) this.settle(ref, err);
  }
}
