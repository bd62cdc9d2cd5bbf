/**
 * Waiting for a Peer's first `welcome` (`Peer.connect` / `ready()`): resolves on it; rejects on
 * the server's fatal error (e.g. NATPUSH_ERR_ADMISSION_DENIED), NATPUSH_ERR_ABORTED, or
 * NATPUSH_ERR_UNREACHABLE when no attempt got through within `timeoutMs` — and then the peer is
 * closed (`onFail`).
 */
import type { SignalingClient } from '../signaling/client.js';
import { SignalingError, SignalingErrorCode } from '../signaling/errors.js';
import type { Clock } from '../util/clock.js';

export interface FirstWelcomeOptions {
  client: SignalingClient;
  clock: Clock;
  /** The server URL, for the UNREACHABLE message. */
  server: string;
  timeoutMs: number | undefined;
  signal: AbortSignal | undefined;
  /** Pending waiters, rejected by the peer's `close()`; this one joins while it waits. */
  waiters: Set<(e: unknown) => void>;
  /** Start the client's first attempt (once per peer; a no-op afterwards). */
  start: () => void;
  /** The wait failed: close the peer. */
  onFail: () => void;
}

export function firstWelcome(o: FirstWelcomeOptions): Promise<void> {
  const { client, signal } = o;
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    const done = (e?: unknown) => {
      if (settled) return;
      settled = true;
      o.waiters.delete(done);
      client.off('ready', onReady);
      client.off('fatal', onFatal);
      signal?.removeEventListener('abort', onAbort);
      timer?.cancel();
      clearInterval(keepAlive);
      if (e) {
        o.onFail();
        reject(e);
      } else resolve();
    };
    const onReady = () => done();
    const onFatal = (e: SignalingError) => done(e);
    const onAbort = () =>
      done(new SignalingError(SignalingErrorCode.ABORTED, 'aborted while connecting'));
    // The clock's timers never hold the process open, and a refused socket leaves nothing
    // that does: without this an awaited connect() would end the program silently (exit 0)
    // between two attempts (issue 8, finding 12). Released as soon as connect() settles.
    const keepAlive = setInterval(() => {}, 1 << 30);
    const t = o.timeoutMs;
    const timer =
      t === undefined
        ? undefined
        : o.clock.setTimeout(() => {
            const last = client.lastError;
            done(
              new SignalingError(
                SignalingErrorCode.UNREACHABLE,
                `cannot reach ${o.server} within ${t} ms` +
                  (last ? ` (last attempt: ${last.message})` : ''),
                last ? { cause: last } : undefined,
              ),
            );
          }, t);
    o.waiters.add(done);
    if (signal?.aborted) return onAbort();
    client.once('ready', onReady);
    client.once('fatal', onFatal);
    signal?.addEventListener('abort', onAbort, { once: true });
    o.start();
  });
}

/**
 * The Peer's side of it: starts the client on the first wait, and `close()` rejects every
 * pending wait (with NATPUSH_ERR_ABORTED when the peer's signal aborted, else `err`).
 */
export class FirstWelcome {
  readonly #o: Omit<FirstWelcomeOptions, 'waiters' | 'start'>;
  /** Pending `ready()` waiters, rejected by `close()`. */
  readonly #waiters = new Set<(e: unknown) => void>();
  #started = false;

  constructor(o: Omit<FirstWelcomeOptions, 'waiters' | 'start'>) {
    this.#o = o;
  }

  wait(): Promise<void> {
    return firstWelcome({
      ...this.#o,
      waiters: this.#waiters,
      start: () => {
        if (this.#started) return;
        this.#started = true;
        this.#o.client.start();
      },
    });
  }

  close(err: SignalingError): void {
    const e = this.#o.signal?.aborted
      ? new SignalingError(SignalingErrorCode.ABORTED, 'aborted while connecting')
      : err;
    for (const w of [...this.#waiters]) w(e);
  }
}
