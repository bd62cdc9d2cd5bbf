/**
 * `punch-end` (src/punch/punch-end.ts): when one side's punch ends without a path, serve tells
 * the other side, which ends its side of THAT punch at once — not at its 15 s timeout — so that
 * a connect there starts a fresh punch instead of joining the doomed one. A frame from a third
 * peer, for another punch, naming another ufrag, or for a punch that has a path, changes nothing.
 */
import { describe, expect, it } from 'vitest';
import { PUNCH_ERR, PunchError } from '../../../src/punch/index.js';
import type { IncomingPunch, PunchSignalOut } from '../../../src/punch/index.js';
import { punch, SIGNAL_MS, type PeerSide, type PunchWorld } from './world.js';
import { outcome, twoPeers, worldPerTest } from './world-per-test.js';

const world = worldPerTest();

type EndFrame = Extract<PunchSignalOut, { type: 'punch-end' }>;

/** The punch-end frames each peer sends (every frame reaches serve). */
function recordEnds(w: PunchWorld): { from: string; f: EndFrame }[] {
  const ends: { from: string; f: EndFrame }[] = [];
  w.loseSignal = (f) => {
    if (f.type === 'punch-end') ends.push({ from: f.to === 'peer-a' ? 'peer-b' : 'peer-a', f });
    return false;
  };
  return ends;
}

/** A's connect toward B; `onIncoming` at B gives B's side of the punch as soon as it exists. */
async function startPunch(
  w: PunchWorld,
  a: PeerSide,
  b: PeerSide,
): Promise<{ ac: AbortController; atA: Promise<unknown>; atB: IncomingPunch }> {
  const ac = new AbortController();
  const incoming = new Promise<IncomingPunch>((resolve) => b.connector.onIncoming(resolve));
  const atA = outcome(a.connector.connect(b.id, { signal: ac.signal }));
  const atB = await w.run(incoming, 5_000);
  return { ac, atA, atB };
}

describe('punch-end', () => {
  it("ends the callee's side right after the initiator's punch is aborted; a connect then punches afresh", async () => {
    const w = await world.create();
    const { a, b } = await twoPeers(w);
    const ends = recordEnds(w);

    const incomingAtA: string[] = [];
    a.connector.onIncoming((p) => incomingAtA.push(p.rid));
    const { ac, atA, atB } = await startPunch(w, a, b);
    // B answered A's punch; A gives up before the coordinated start (a re-punch, a lost relay).
    const abortedAt = w.clock.now();
    ac.abort();
    expect(await w.run(atA)).toMatchObject({ code: PUNCH_ERR.ABORTED });

    const atBOutcome = await w.run(outcome(atB.path), 20_000);
    const endedAt = w.clock.now();
    expect(atBOutcome).toBeInstanceOf(PunchError);
    expect((atBOutcome as PunchError).code).toBe(PUNCH_ERR.FAILED);
    expect((atBOutcome as PunchError).message).toMatch(/other side ended it \(aborted\)/);
    // One signaling trip (A → serve → B), not the punch's 15 s timeout. ManualClock: exact.
    expect(endedAt - abortedAt).toBeLessThan(1_000);
    // A told B once, for that punch, with its ufrag; B told nothing back (it knows).
    expect(ends).toHaveLength(1);
    expect(ends[0]!.from).toBe('peer-a');
    expect(ends[0]!.f).toMatchObject({ to: 'peer-b', rid: atB.rid, reason: 'aborted' });
    expect(ends[0]!.f.ufrag).toMatch(/^[A-Za-z0-9+/]{4,32}$/);

    // B's answer crossed A's abort: A took it for no punch toward it (session-table.ts ended).
    await w.clock.advanceAsync(4 * SIGNAL_MS);
    expect(incomingAtA).toEqual([]);

    // B connects now: a fresh punch (a new rid), which A answers, not the ended one.
    const sent: PunchSignalOut[] = [];
    w.loseSignal = (f) => {
      sent.push(f);
      return false;
    };
    const fromB = new Promise<IncomingPunch>((r) => a.connector.onIncoming(r));
    const [path, answered] = await w.run(
      Promise.all([b.connector.connect('peer-a'), fromB.then((p) => p.path)]),
    );
    const fresh = sent.find((f) => f.type === 'candidates' && f.to === 'peer-a');
    expect(fresh).toBeDefined();
    expect((fresh as { rid: string }).rid).not.toBe(atB.rid);
    expect(['direct', 'relay']).toContain(path.kind);
    path.close();
    answered.close();
  });

  it("ends the initiator's side when the callee's connector closes mid-punch", async () => {
    const w = await world.create();
    const { a, b } = await twoPeers(w);
    const ends = recordEnds(w);

    const { atA, atB } = await startPunch(w, a, b);
    void outcome(atB.path);
    const closedAt = w.clock.now();
    await w.run(b.connector.close());
    const result = await w.run(atA, 20_000);
    expect(result).toBeInstanceOf(PunchError);
    expect((result as PunchError).message).toMatch(/other side ended it \(closed\)/);
    expect(w.clock.now() - closedAt).toBeLessThan(1_000);
    expect(ends.map((e) => [e.from, e.f.reason])).toEqual([['peer-b', 'closed']]);
  });

  it('a forged punch-end (a third peer, another rid, another ufrag) changes nothing', async () => {
    const w = await world.create();
    const { a, b } = await twoPeers(w);
    const c = await w.peer('peer-c', w.nat('full-cone'));
    let forged = 0;
    b.connector.onIncoming((p) => {
      // Through serve's own gate (Presence.forward): `from` is always the real sender.
      const forge = (from: string, rid: string, ufrag?: string): void => {
        forged++;
        w.presence.forward(from, 'peer-b', {
          type: 'punch-end',
          from,
          rid,
          ...(ufrag ? { ufrag } : {}),
          reason: 'aborted',
        });
      };
      forge(c.id, p.rid); // a stranger naming A's punch
      forge('peer-a', `${p.rid}x`); // A, but another punch
      forge('peer-a', p.rid, 'ZZZZnotAsUfrag'); // A's punch id, not A's ufrag in it (stale)
      // And toward A, for its own punch, from the stranger.
      w.presence.forward(c.id, 'peer-a', {
        type: 'punch-end',
        from: c.id,
        rid: p.rid,
        reason: 'failed',
      });
    });
    const [pa, pb] = await punch(w, a, b);
    expect(forged).toBe(3);
    expect(['direct', 'relay']).toContain(pa.kind);
    expect(['direct', 'relay']).toContain(pb.kind);
    pa.close();
    pb.close();
  });

  it('a punch that found a path sends no punch-end, and one arriving later ends nothing', async () => {
    const w = await world.create();
    const { a, b } = await twoPeers(w);
    const ends = recordEnds(w);
    let rid = '';
    b.connector.onIncoming((p) => void (rid = p.rid));
    const [pa, pb] = await punch(w, a, b);
    let deadB = false;
    pb.onDead(() => (deadB = true));
    w.presence.forward('peer-a', 'peer-b', {
      type: 'punch-end',
      from: 'peer-a',
      rid,
      reason: 'failed',
    });
    await w.clock.advanceAsync(4 * SIGNAL_MS);
    expect(deadB).toBe(false);
    expect(pb.closed).toBe(false);
    pa.close();
    pb.close();
    await w.clock.advanceAsync(4 * SIGNAL_MS);
    expect(ends).toEqual([]);
  });

  it('against a serve without punch-end the callee ends on its own timeout, as before', async () => {
    const w = await world.create();
    w.takesPunchEnd = false;
    const { a, b } = await twoPeers(w);
    const ends = recordEnds(w);
    const { ac, atA, atB } = await startPunch(w, a, b);
    const abortedAt = w.clock.now();
    ac.abort();
    expect(await w.run(atA)).toMatchObject({ code: PUNCH_ERR.ABORTED });
    const result = await w.run(outcome(atB.path), 40_000);
    expect(result).toBeInstanceOf(PunchError);
    expect((result as PunchError).message).not.toMatch(/other side ended it/);
    expect(w.clock.now() - abortedAt).toBeGreaterThan(5_000);
    expect(ends).toEqual([]);
  });
});
