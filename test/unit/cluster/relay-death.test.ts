/**
 * A relay that dies over UDP is noticed in seconds, not after consent's 30 s (issue 12): two
 * peers behind symmetric NATs talk over serve's TURN relay; the relay then goes silent (every
 * datagram to or from it dropped, as after a SIGKILL of its host). One unanswered consent check
 * (punch-run.ts: onConsentMissed) probes the relay, the probe finds the allocation lost, and the
 * path on it dies at once with that reason (path.ts) — the ladder moves from there. Manual clock,
 * in-memory network: the bound below is virtual time, so it does not flake on a loaded machine.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { PUNCH_DEFAULTS } from '../../../src/punch/constants.js';
import { punch, PunchWorld, TURN } from '../punch/world.js';

let world: PunchWorld | undefined;
afterEach(async () => {
  // The relay is silent: releasing the allocations times out; the world's close drives the clock.
  await world?.close();
  world = undefined;
});

describe('relay death over UDP', () => {
  it('kills the relayed path within a consent interval and a probe, long before consent times out', async () => {
    const w = (world = await PunchWorld.create());
    const a = await w.peer('peer-a', w.nat('symmetric'));
    const b = await w.peer('peer-b', w.nat('symmetric'));
    const [pa, pb] = await punch(w, a, b);
    expect(pa.kind).toBe('relay');

    const deaths: string[] = [];
    pa.onDead((r) => deaths.push(`a: ${r}`));
    pb.onDead((r) => deaths.push(`b: ${r}`));
    // The relay host dies: nothing reaches it, nothing comes from it.
    w.net.dropIf((p) => p.src.address === TURN.address || p.dst.address === TURN.address);
    const killedAt = w.clock.now();
    // A consent check within 1.2 × the interval, its 4.5 s of retransmissions, then the probe
    // (a Refresh, up to its 3 s request timeout here): ~13 s at most. Consent alone: 30 s.
    const bound = PUNCH_DEFAULTS.consentIntervalMs * 1.2 + 4_500 + 3_000 + 2_000;
    while (deaths.length === 0 && w.clock.now() - killedAt < bound) await w.clock.advanceAsync(50);
    expect(deaths.length).toBeGreaterThan(0);
    expect(deaths.some((d) => d.includes('relay allocation lost'))).toBe(true);
    expect(w.clock.now() - killedAt).toBeLessThan(PUNCH_DEFAULTS.consentTimeoutMs);
  });
});
