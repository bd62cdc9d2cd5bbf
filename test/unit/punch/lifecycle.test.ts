/**
 * What happens around a punch: the coordinated start uses serve's clock through the peer's
 * offset; consent checks (RFC 7675) keep a path — and the NAT mappings under it — alive past a
 * 30 s mapping timeout (Linux conntrack's unreplied UDP timeout), and declare it dead 30 s after
 * the last answer; the relayed candidate is re-allocated with fresh credentials before they expire.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { TurnClient } from '../../../src/relay/client/client.js';
import { mintTurnCredentials } from '../../../src/relay/credentials.js';
import {
  CandidateGatherer,
  PUNCH_DEFAULTS,
  PUNCH_ERR,
  punchWithRetry,
} from '../../../src/punch/index.js';
import type { PunchedPath } from '../../../src/punch/index.js';
import { StunTransactions } from '../../../src/stun/transaction.js';
import { punch, PunchWorld, SECRET, STUN, TURN } from './world.js';
import { crossesBothWays } from './world-per-test.js';

let world: PunchWorld | undefined;

afterEach(async () => {
  await world?.close();
  world = undefined;
});

describe('punch lifecycle', () => {
  it("starts at serve's `at` converted with the clock offset (serve 60 s ahead)", async () => {
    world = await PunchWorld.create({ serverSkewMs: 60_000 });
    const w = world;
    const a = await w.peer('peer-a', w.nat('port-restricted'));
    const b = await w.peer('peer-b', w.nat('port-restricted'));
    const t0 = w.clock.now();
    const [pa, pb] = await punch(w, a, b);
    // Unconverted, `at` would lie 60 s ahead and the start would wait maxStartDelayMs (5 s).
    expect(w.clock.now() - t0).toBeLessThan(PUNCH_DEFAULTS.maxStartDelayMs);
    expect([pa.kind, pb.kind]).toEqual(['direct', 'direct']);
  });

  it('consent keeps a direct path and its 30 s NAT mappings alive, and declares it dead 30 s after the last answer', async () => {
    world = await PunchWorld.create();
    const w = world;
    const conntrack = { mappingTimeoutMs: 30_000 };
    const a = await w.peer('peer-a', w.nat('port-restricted', conntrack));
    const b = await w.peer('peer-b', w.nat('port-restricted', conntrack));
    const [pa, pb] = await punch(w, a, b);
    expect(pa.kind).toBe('direct');

    // Two minutes without a single session datagram: only consent checks cross.
    await w.clock.advanceAsync(120_000);
    await crossesBothWays(w, pa, pb, { ms: 100 });

    // Cut the path between the two NATs: consent is lost after 30 s, not before.
    const dead: { side: string; at: number }[] = [];
    pa.onDead(() => dead.push({ side: 'a', at: w.clock.now() }));
    pb.onDead(() => dead.push({ side: 'b', at: w.clock.now() }));
    const cutAt = w.clock.now();
    w.net.dropIf(
      (p) =>
        (p.src.address === a.nat.publicAddress && p.dst.address === b.nat.publicAddress) ||
        (p.src.address === b.nat.publicAddress && p.dst.address === a.nat.publicAddress),
    );
    // Not before: the last answer came at most one randomised interval (≤ 1.2 × 5 s) before
    // the cut, so consent cannot be lost sooner than 24 s after it (Math.random jitters the
    // interval: a check at 25 s failed about once in a hundred runs).
    await w.clock.advanceAsync(23_500);
    expect(dead).toEqual([]);
    await w.clock.advanceAsync(21_500);
    expect(dead.map((d) => d.side).sort()).toEqual(['a', 'b']);
    // Dead at the first consent tick after 30 s of silence: within one interval (≤ 1.2 × 5 s)
    // plus one consent check's answer time of the cut.
    for (const d of dead) {
      expect(d.at - cutAt).toBeGreaterThanOrEqual(30_000 - 6_000);
      expect(d.at - cutAt).toBeLessThanOrEqual(30_000 + 6_000);
    }
  });

  it('tells the path when the remote NAT rebinds (and only after checking the new source)', async () => {
    world = await PunchWorld.create();
    const w = world;
    // A's NAT forgets idle mappings after 10 s and picks random ports (symmetric).
    const a = await w.peer('peer-a', w.nat('symmetric', { mappingTimeoutMs: 10_000 }));
    const b = await w.peer('peer-b', w.nat('full-cone'));
    const [, pb] = await punch(w, a, b);
    expect(pb.kind).toBe('direct');
    const moved: string[] = [];
    pb.onRepunchNeeded((e) => moved.push(`${e.address}:${e.port}`));
    const before = `${pb.remote.address}:${pb.remote.port}`;

    // Silence A's host for 11 s: its mapping toward B expires; its next packet gets a new port.
    const hostA = a.host.address;
    const unblock = w.net.dropIf((p) => p.src.address === hostA);
    await w.clock.advanceAsync(11_000);
    unblock();
    expect(moved).toEqual([]);
    await w.clock.advanceAsync(8_000); // A's next consent check, then B's verification check
    expect(moved).toHaveLength(1);
    expect(moved[0]).not.toBe(before);
    expect(moved[0]!.startsWith(`${a.nat.publicAddress}:`)).toBe(true);
  });

  it('retries with backoff when serve loses the first rendezvous frame', async () => {
    world = await PunchWorld.create();
    const w = world;
    const a = await w.peer('peer-a', w.nat('full-cone'));
    const b = await w.peer('peer-b', w.nat('port-restricted'));
    let lost = 0;
    w.loseSignal = (f) => f.type === 'candidates' && f.to === 'peer-b' && lost++ === 0;
    const incoming = new Promise<PunchedPath>((resolve, reject) => {
      b.connector.onIncoming((p) => void p.path.then(resolve, reject));
    });
    const failures: string[] = [];
    const [pa, pb] = await w.run(
      Promise.all([
        punchWithRetry(a.connector, 'peer-b', {
          clock: w.clock,
          random: () => 0.5,
          onFailure: (err) => failures.push((err as { code: string }).code),
        }),
        incoming,
      ]),
    );
    expect(failures).toEqual([PUNCH_ERR.SIGNAL_TIMEOUT]);
    expect([pa.kind, pb.kind]).toEqual(['direct', 'direct']);
  });

  it('fails with a typed error behind a UDP-blocking firewall (the ladder stays server-routed)', async () => {
    world = await PunchWorld.create();
    const w = world;
    const a = await w.peer('peer-a', w.nat('udp-blocked'));
    const b = await w.peer('peer-b', w.nat('full-cone'));
    const incoming = new Promise<PunchedPath>((resolve, reject) => {
      b.connector.onIncoming((p) => void p.path.then(resolve, reject));
    });
    const results = await w.run(
      Promise.allSettled([a.connector.connect('peer-b'), incoming]),
      60_000,
    );
    for (const r of results) {
      expect(r.status).toBe('rejected');
      expect((r as PromiseRejectedResult).reason).toMatchObject({ code: PUNCH_ERR.FAILED });
    }
  });

  it('close() ends a punch in progress with NATPUSH_ERR_PUNCH_CLOSED', async () => {
    world = await PunchWorld.create();
    const w = world;
    const a = await w.peer('peer-a', w.nat('full-cone'));
    // Nobody answers: the connect waits for candidates that never come.
    const pending = a.connector.connect('peer-nobody');
    const settled = pending.then(
      () => 'resolved',
      (e: { code: string }) => e.code,
    );
    await w.clock.advanceAsync(1_000);
    await w.run(a.connector.close()); // releasing the relay is a Refresh exchange
    expect(await settled).toBe(PUNCH_ERR.CLOSED);
  });

  it('re-allocates the relayed candidate with fresh credentials before they expire', async () => {
    world = await PunchWorld.create();
    const w = world;
    const host = w.net.addHost({ addresses: ['203.0.113.77'] });
    const socket = await host.bindUdp({ port: 7000 });
    const transactions = new StunTransactions({
      send: (b, to) => socket.send(b, to),
      clock: w.clock,
    });
    const off = socket.onMessage((d, from) => transactions.handle(d, from));
    let fetched = 0;
    const gatherer = new CandidateGatherer({
      socket,
      transactions,
      clock: w.clock,
      interfaces: () => [],
      stunServer: STUN,
      turn: {
        server: TURN,
        credentials: () => {
          fetched++;
          // Valid for two minutes: renewal is due at expiry − relayCredentialMarginMs = 60 s.
          const c = mintTurnCredentials(SECRET, 'renewing', 120, w.clock.now());
          return Promise.resolve({ ...c, expires: c.expiresAt });
        },
      },
    });
    const changes: (TurnClient | undefined)[] = [];
    gatherer.onRelayChange((r) => changes.push(r));
    const gathered = await w.run(gatherer.gather());
    expect(gathered.map((c) => c.type)).toEqual(['srflx', 'relay']);
    const first = gatherer.relay!;
    await w.clock.advanceAsync(55_000);
    expect(changes).toHaveLength(0);
    await w.clock.advanceAsync(10_000);
    expect(changes).toHaveLength(1);
    expect(fetched).toBe(2);
    expect(first.closed).toBe(true);
    expect(changes[0]).toBe(gatherer.relay);
    expect(gatherer.relay!.closed).toBe(false);
    // Still exactly one allocation on the server: the old one was released first.
    expect(w.turn.allocationCount).toBe(1);
    await w.run(gatherer.close());
    expect(w.turn.allocationCount).toBe(0);
    off();
    transactions.close();
    await socket.close();
  });
});
