/**
 * A punch whose `candidates` cannot be sent (signaling not connected at that moment): the
 * connect rejects NOT_CONNECTED at once, and the wait for the other side's candidates that was
 * armed before the send ends quietly. Before the fix it rejected 10 s later
 * (SIGNAL_TIMEOUT) with nobody awaiting it, an unhandled rejection that killed a ladder peer's
 * process in a netsim run. Both sides on the memory network, ManualClock.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { PUNCH_DEFAULTS, PUNCH_ERR, PunchError } from '../../../src/punch/index.js';
import { PunchWorld } from './world.js';

let world: PunchWorld | undefined;
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => void unhandled.push(reason);

afterEach(async () => {
  process.off('unhandledRejection', onUnhandled);
  await world?.close();
  world = undefined;
});

describe('a punch whose candidates cannot be sent', () => {
  it('rejects NOT_CONNECTED, and nothing rejects unhandled after the signaling timeout', async () => {
    unhandled.length = 0;
    process.on('unhandledRejection', onUnhandled);
    world = await PunchWorld.create();
    const w = world;
    const a = await w.peer('peer-a', w.nat('full-cone'));
    await w.peer('peer-b', w.nat('full-cone'));
    w.refuseSignal = (f) => f.type === 'candidates';
    const err = await w.run(
      a.connector.connect('peer-b').then(
        () => 'ok',
        (e: unknown) => e,
      ),
    );
    expect(err).toBeInstanceOf(PunchError);
    expect((err as PunchError).code).toBe(PUNCH_ERR.NOT_CONNECTED);
    // Past the wait for the other side's candidates, then a few turns of the event loop for
    // Node to report a rejection nobody handled.
    await w.clock.advanceAsync(2 * PUNCH_DEFAULTS.signalTimeoutMs);
    for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
    expect(unhandled).toEqual([]);
  });
});
