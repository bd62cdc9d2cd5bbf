/**
 * A relay that dies over UDP is noticed in seconds, not after consent's 30 s (issue 12): two
 * peers behind symmetric NATs talk over serve's TURN relay; the relay then goes silent (every
 * datagram to or from it dropped, as after a SIGKILL of its host). One unanswered consent check
 * (punch-run.ts: onConsentMissed) probes the relay, the probe finds the allocation lost, and the
 * path on it dies at once with that reason (path.ts) — the ladder moves from there. Manual clock,
 * in-memory network: the bound below is virtual time, so it does not flake on a loaded machine.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryNetwork, type Endpoint } from '../../../src/net/index.js';
import { CandidateGatherer, type RelayCredentials } from '../../../src/punch/candidates.js';
import { PUNCH_DEFAULTS } from '../../../src/punch/constants.js';
import type { TurnClient } from '../../../src/relay/client/client.js';
import { mintTurnCredentials } from '../../../src/relay/credentials.js';
import { StunTransactions } from '../../../src/stun/index.js';
import { ManualClock } from '../../../src/util/clock.js';
import { punch, PunchWorld, TURN } from '../punch/world.js';
import { relayOn } from '../relay/memory-relay.js';

let world: PunchWorld | undefined;
const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
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

  it('after its relay went silent, the gatherer neither waits for it as STUN server nor allocates there', async () => {
    // serve keeps a dead relay in its rotation until its record expires (6 s and a refresh) and
    // the peers use the relay as their STUN server: a gather then waited the whole STUN timeout
    // for the dead one, and an Allocate to it its whole request timeout, while the punch that
    // needed the new relayed candidate ran out (relay-move.test.ts: ~6 s more).
    const RELAY_A: Endpoint = { address: '203.0.113.11', port: 3478 };
    const RELAY_B: Endpoint = { address: '203.0.113.12', port: 3478 };
    const url = (e: Endpoint) => `turn:${e.address}:${e.port}?transport=udp`;
    const clock = new ManualClock();
    const net = new MemoryNetwork({ clock });
    for (const r of [RELAY_A, RELAY_B]) {
      const server = await relayOn(
        net.addHost({ addresses: [r.address] }),
        clock,
        r,
        'relay-death-secret',
      );
      closers.push(() => server.close());
    }
    let diedAt: number | undefined = undefined; // set when relay A dies
    net.dropIf(
      (p) =>
        diedAt !== undefined &&
        (p.dst.address === RELAY_A.address || p.src.address === RELAY_A.address),
    );
    const socket = await net.addHost({ addresses: ['192.0.2.20'] }).bindUdp({ port: 0 });
    closers.push(() => socket.close());
    // serve's fleet: A, and A still for 8 s after it died (its record's TTL), then B.
    const credentials = (): Promise<RelayCredentials> => {
      const relay = diedAt === undefined || clock.now() - diedAt < 8_000 ? RELAY_A : RELAY_B;
      const c = mintTurnCredentials('relay-death-secret', 'alice', 3_600, clock.now());
      return Promise.resolve({ ...c, urls: [url(relay)] });
    };
    const gatherer = new CandidateGatherer({
      socket,
      transactions: new StunTransactions({ send: (b, to) => socket.send(b, to), clock }),
      clock,
      interfaces: () => [],
      stunServer: RELAY_A, // the peers ask their relay for the srflx
      turn: { server: RELAY_A, credentials },
    });
    closers.push(async () => {
      const closing = gatherer.close();
      for (let i = 0; i < 100; i++) await clock.advanceAsync(100); // a silent relay's Refresh(0)
      await closing;
    });
    const changes: (TurnClient | undefined)[] = [];
    gatherer.onRelayChange((r) => changes.push(r));
    gatherer.ensureRelay();
    for (let i = 0; i < 20 && changes.length === 0; i++) await clock.advanceAsync(10);
    expect(changes[0]?.server).toEqual(RELAY_A);

    diedAt = clock.now();
    // Probed 2 s after the death: the probe's Refresh times out 3 s later, while serve still
    // names A (until 8 s).
    await clock.advanceAsync(2_000);
    gatherer.checkRelay();
    for (let i = 0; i < 400 && changes.length < 2; i++) await clock.advanceAsync(10);
    expect(changes[1]).toBeUndefined();
    // A punch begins now and gathers: it does not wait for the silent relay's STUN answer.
    const askedAt = clock.now();
    let gathered = false;
    gatherer.ensureRelay(); // as the punch's connect does
    const gather = gatherer.gather(undefined, { waitRelay: false }).then(() => (gathered = true));
    for (let i = 0; i < 500 && !gathered; i++) await clock.advanceAsync(10);
    await gather;
    expect(clock.now() - askedAt).toBeLessThan(500);
    // serve names A twice more (the punch's ensureRelay, the first re-allocation 1 s later),
    // then B at the second (2 s on, 8 s after the death): each A is passed over at once, not
    // after an Allocate timeout, so the allocation on B comes when serve first names it.
    for (let i = 0; i < 1_000 && changes.length < 3; i++) await clock.advanceAsync(10);
    expect(changes[2]?.server).toEqual(RELAY_B);
    expect(clock.now() - diedAt).toBeLessThan(8_000 + 1_000);
  });
});
