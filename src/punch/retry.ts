/**
 * Punch again after a failure, with exponential backoff and full jitter (the AWS architecture
 * blog's "full jitter", as the signaling client's reconnect does): the other side may have been
 * busy, its NAT may have changed, or serve may have lost a rendezvous frame. Aborts and a closed
 * connector are final; everything else is retried up to `attempts` times.
 */
import type { Clock } from '../util/clock.js';
import type { PunchConnector } from './connector.js';
import { PUNCH_ERR, PunchError } from './errors.js';
import type { PunchedPath } from './path.js';

export interface PunchRetryOptions {
  clock: Clock;
  /** Tries in all; default 3. */
  attempts?: number;
  /** First backoff ceiling; default 1 s, doubling per failure. */
  baseDelayMs?: number;
  /** Largest backoff ceiling; default 30 s. */
  maxDelayMs?: number;
  signal?: AbortSignal;
  random?: () => number;
  /** Told of each failed attempt (the ladder shows why a direct path failed). */
  onFailure?: (err: unknown, attempt: number) => void;
}

const RETRY_DEFAULTS = { attempts: 3, baseDelayMs: 1_000, maxDelayMs: 30_000 } as const;

export async function punchWithRetry(
  connector: PunchConnector,
  peer: string,
  o: PunchRetryOptions,
): Promise<PunchedPath> {
  const attempts = o.attempts ?? RETRY_DEFAULTS.attempts;
  if (!Number.isInteger(attempts) || attempts < 1)
    throw new RangeError(`attempts must be an integer >= 1, got ${attempts}`);
  const base = o.baseDelayMs ?? RETRY_DEFAULTS.baseDelayMs;
  const max = o.maxDelayMs ?? RETRY_DEFAULTS.maxDelayMs;
  const random = o.random ?? Math.random;
  for (let attempt = 1; ; attempt++) {
    try {
      return await connector.connect(peer, o.signal ? { signal: o.signal } : {});
    } catch (err) {
      const final =
        err instanceof PunchError &&
        (err.code === PUNCH_ERR.ABORTED || err.code === PUNCH_ERR.CLOSED);
      o.onFailure?.(err, attempt);
      if (final || attempt >= attempts) throw err;
      const ceiling = Math.min(max, base * 2 ** (attempt - 1));
      await sleep(o.clock, random() * ceiling, o.signal);
    }
  }
}

function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new PunchError(PUNCH_ERR.ABORTED, 'aborted'));
    const onAbort = (): void => {
      t.cancel();
      reject(new PunchError(PUNCH_ERR.ABORTED, 'aborted'));
    };
    const t = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
