/**
 * The TURN client's background refreshes (src/relay/client/repeater.ts): each task re-arms after
 * its run settles, failures go to the callback, and nothing is armed once the client stops —
 * also when a run was in flight as it stopped (the client's close() starts while a refresh is
 * outstanding).
 */
import { describe, expect, it } from 'vitest';
import { Repeater } from '../../../src/relay/client/repeater.js';
import { ManualClock } from '../../../src/util/clock.js';

const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('TURN client repeater', () => {
  it('runs every N seconds after the previous run settles and reports failures', async () => {
    const clock = new ManualClock();
    const failures: string[] = [];
    const r = new Repeater(
      clock,
      () => false,
      (what) => failures.push(what),
    );
    let runs = 0;
    r.every(10, 'ok', () => Promise.resolve(runs++));
    r.every(10, 'bad', () => Promise.reject(new Error('no')));
    expect(clock.pending).toBe(2);
    for (let i = 0; i < 3; i++) {
      await clock.advanceAsync(10_000);
      await settle();
    }
    expect(runs).toBe(3);
    expect(failures).toEqual(['bad', 'bad', 'bad']);
    expect(clock.pending).toBe(2); // one timer per task, never more
    r.cancel();
    expect(clock.pending).toBe(0);
  });

  it('arms nothing once stopped, even after a run that was in flight', async () => {
    const clock = new ManualClock();
    let stopped = false;
    const r = new Repeater(
      clock,
      () => stopped,
      () => {},
    );
    let finish: () => void = () => {};
    r.every(5, 'slow', () => new Promise<void>((resolve) => (finish = resolve)));
    await clock.advanceAsync(5_000);
    // The run is in flight; the owner stops and cancels (TurnClient.close()).
    stopped = true;
    r.cancel();
    finish();
    await settle();
    expect(clock.pending).toBe(0);
  });
});
