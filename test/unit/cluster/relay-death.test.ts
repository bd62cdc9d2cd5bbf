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

  it('ends a punch that offered the dead allocation at once, not at its punch timeout', async () => {
    // The try-for-direct punch that a relayed link runs every so often, begun just after the
    // relay died and before anything noticed: it offers the dead allocation's relayed
    // candidate. Its start probes the allocation (connector.ts), the probe finds it lost, and
    // the punch ends with that reason — its link re-punches onto the new allocation (issue 12;
    // relay-move.test.ts saw such punches run their full 15 s).
    const w = (world = await PunchWorld.create());
    const a = await w.peer('peer-a', w.nat('symmetric'));
    const b = await w.peer('peer-b', w.nat('symmetric'));
    const [pa, pb] = await punch(w, a, b);
    expect(pa.kind).toBe('relay');
    // No consent check of the path may find the death first: this is about the punch alone.
    pa.close();
    pb.close();
    w.net.dropIf((p) => p.src.address === TURN.address || p.dst.address === TURN.address);
    const startedAt = w.clock.now();
    let error: unknown;
    await w.run(
      a.connector.connect(b.id).then(
        (p) => p.close(),
        (err: unknown) => (error = err),
      ),
      PUNCH_DEFAULTS.punchTimeoutMs * 3,
    );
    expect(String(error)).toMatch(/relay allocation lost/);
    // The probe's Refresh times out (its request timeout, gatherTimeoutMs): well before the
    // punch's own timeout, which only starts with the checks.
    expect(w.clock.now() - startedAt).toBeLessThan(PUNCH_DEFAULTS.punchTimeoutMs);
  });
});
