/**
 * A punch ended while it gathers its candidates (connector.ts `#initiate`): `close()` of the
 * connector, or an abort of that `connect`, must end it there. Nothing of that punch goes to
 * serve afterwards (no `candidates`, no `punch`, no `punch-end`: the other side never heard of
 * it), the relay allocation the punch asked for is released with the connector, and the connect
 * rejects with the usual typed error. Both sides on the memory network, ManualClock.
 */
import { describe, expect, it } from 'vitest';
import { PUNCH_DEFAULTS, PUNCH_ERR, PunchError } from '../../../src/punch/index.js';
import type { PunchSignalOut } from '../../../src/punch/index.js';
import type { PunchWorld } from './world.js';
import { outcome, twoPeers, worldPerTest } from './world-per-test.js';

const world = worldPerTest();

/** Every frame A sends toward B through serve (A is the only side that starts anything). */
function framesToB(w: PunchWorld): PunchSignalOut[] {
  const sent: PunchSignalOut[] = [];
  w.loseSignal = (f) => {
    if ('to' in f && f.to === 'peer-b') sent.push(f);
    return false;
  };
  return sent;
}

describe('a punch ended while gathering', () => {
  it('close() during the gather: the connect rejects CLOSED, nothing is sent, the allocation goes', async () => {
    const w = await world.create();
    const { a, b } = await twoPeers(w);
    const sent = framesToB(w);
    const incomingAtB: string[] = [];
    b.connector.onIncoming((p) => incomingAtB.push(p.rid));

    // The connector's warm gather (its srflx Binding) is still out: connect waits on it, and
    // asks for the relay allocation in the background.
    const result = outcome(a.connector.connect('peer-b'));
    const closedAt = w.clock.now();
    await w.run(a.connector.close());
    const err = await w.run(result, 3 * PUNCH_DEFAULTS.signalTimeoutMs);
    expect(err).toBeInstanceOf(PunchError);
    expect((err as PunchError).code).toBe(PUNCH_ERR.CLOSED);
    // At close, not at a signaling timeout (ManualClock: exact).
    expect(w.clock.now() - closedAt).toBeLessThan(1_000);

    // The Allocate this punch asked for (ensureRelay) was in flight at close: it is made, and
    // released as it comes back (candidates.ts #allocate). Then long past every timer the punch
    // had (its signaling waits).
    let allocations = 0;
    for (let t = 0; t < 2_000; t += 5) {
      await w.clock.advanceAsync(5);
      allocations = Math.max(allocations, w.turn.allocationCount);
    }
    await w.clock.advanceAsync(2 * PUNCH_DEFAULTS.signalTimeoutMs);
    expect(sent).toEqual([]);
    expect(incomingAtB).toEqual([]);
    expect(allocations).toBe(1);
    expect(w.turn.allocationCount).toBe(0);
  });

  it('an abort during a fresh gather: the connect rejects ABORTED and nothing is sent', async () => {
    const w = await world.create();
    const { a } = await twoPeers(w);
    // The warm candidates are past their life: the connect gathers afresh, under its signal.
    await w.clock.advanceAsync(PUNCH_DEFAULTS.warmCandidatesMs + 1);
    const sent = framesToB(w);

    const ac = new AbortController();
    const result = outcome(a.connector.connect('peer-b', { signal: ac.signal }));
    ac.abort();
    const err = await w.run(result, 3 * PUNCH_DEFAULTS.signalTimeoutMs);
    expect(err).toBeInstanceOf(PunchError);
    expect((err as PunchError).code).toBe(PUNCH_ERR.ABORTED);
    await w.clock.advanceAsync(2 * PUNCH_DEFAULTS.signalTimeoutMs);
    expect(sent).toEqual([]);
  });
});
