/**
 * What the ReliableChannel tests share (reliable-delivery, reliable-input, reliable-flow): a
 * seeded channel pair (channel-pair.ts), a runner that advances the manual clock until promises
 * settle, and a notification maker.
 */
import type { Notification, ReliableOptions } from '../../../src/session/reliable.js';
import type { SecureSessionOptions } from '../../../src/session/secure-session.js';
import type { ManualClock } from '../../../src/util/clock.js';
import { isNatpushError } from '../../../src/util/errors.js';
import { channelPair } from './channel-pair.js';
import type { PipeOptions } from './lossy-pipe.js';

export function setup(
  o: {
    pipe?: PipeOptions;
    timers?: SecureSessionOptions['timers'];
    seed?: number;
    options?: ReliableOptions;
  } = {},
) {
  const seed = o.seed ?? 0;
  return channelPair({ ...o, seeds: [101 + seed, 202 + seed] });
}

/** Run the clock until every promise settled (or `maxMs` passed). */
export async function settle(clock: ManualClock, promises: Promise<unknown>[], maxMs = 120_000) {
  let done = 0;
  const results = promises.map((p) =>
    p.then(
      () => {
        done++;
        return 'ok';
      },
      (e: unknown) => {
        done++;
        return isNatpushError(e) ? e.code : String(e);
      },
    ),
  );
  for (let t = 0; t < maxMs && done < promises.length; t += 50) await clock.advanceAsync(50);
  return Promise.all(results);
}

export const note = (prefix: string, i: number, body = `body ${i}`): Notification => ({
  id: `${prefix}-${i}`,
  topic: 'test',
  body,
});
