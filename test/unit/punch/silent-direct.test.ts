/**
 * A re-punch does not wait the direct grace again for direct pairs that stayed silent through the
 * last punch with the same peer (silent-direct.ts): the relayed pair is nominated as soon as it
 * works (relay-move: the re-punch onto the new relay waited 3 s for pairs a firewall drops). The
 * memory is bounded, expires, and a pair that works clears it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { PUNCH_DEFAULTS } from '../../../src/punch/index.js';
import type { CandidatePair } from '../../../src/punch/index.js';
import { SILENT_MAX_PEERS, SILENT_TTL_MS, SilentDirect } from '../../../src/punch/silent-direct.js';
import { punch, PunchWorld } from './world.js';

let world: PunchWorld | undefined;

afterEach(async () => {
  await world?.close();
  world = undefined;
});

function pair(id: string, o: Partial<CandidatePair> = {}): CandidatePair {
  return {
    id,
    base: 'socket',
    remote: { type: 'srflx', address: '198.51.100.7', port: 1, priority: 1 },
    kind: 'direct',
    priority: 1n,
    state: 'in-progress',
    heard: false,
    nominated: false,
    ...o,
  };
}

describe('silent direct pairs', () => {
  it('a re-punch with the same peer nominates the relay without waiting the grace again', async () => {
    world = await PunchWorld.create();
    const w = world;
    const a = await w.peer('peer-a', w.nat('port-restricted'));
    const b = await w.peer('peer-b', w.nat('port-restricted'));
    const [x, y] = [a.nat.publicAddress, b.nat.publicAddress];
    // A firewall between the two NATs: nothing direct ever answers (relay-move's set-up).
    w.net.dropIf(
      (p) =>
        (p.src.address === x && p.dst.address === y) ||
        (p.src.address === y && p.dst.address === x),
    );
    let t = w.clock.now();
    const first = await punch(w, a, b);
    const waited = w.clock.now() - t;
    expect(first.map((p) => p.kind)).toEqual(['relay', 'relay']);
    for (const p of first) p.close();

    t = w.clock.now();
    const second = await punch(w, a, b);
    const again = w.clock.now() - t;
    expect(second.map((p) => p.kind)).toEqual(['relay', 'relay']);
    // Signaling, the coordinated start and the relayed pair's checks; not the grace a second time.
    expect(waited).toBeGreaterThanOrEqual(PUNCH_DEFAULTS.directGraceMs);
    expect(again).toBeLessThan(waited - PUNCH_DEFAULTS.directGraceMs / 2);
  });

  it('remembers per peer, forgets after the TTL, on a working pair, and past its bound', () => {
    const m = new SilentDirect();
    const grace = 3_000;
    m.record('p', [pair('s|1'), pair('s|2')], grace, grace, 0);
    expect([...m.of('p', 1_000)]).toEqual(['s|1', 's|2']);
    expect(m.of('q', 1_000).size).toBe(0);
    expect(m.of('p', SILENT_TTL_MS).size).toBe(0); // expired
    // A punch shorter than the grace proves nothing.
    m.record('p', [pair('s|1')], grace - 1, grace, 0);
    expect(m.of('p', 0).size).toBe(0);
    // A direct pair heard from (or answered) clears the peer.
    m.record('p', [pair('s|1')], grace, grace, 0);
    m.record('p', [pair('s|1'), pair('s|2', { heard: true })], grace, grace, 1);
    expect(m.of('p', 2).size).toBe(0);
    // Bounded: the oldest peer goes first.
    for (let i = 0; i <= SILENT_MAX_PEERS; i++) m.record(`p${i}`, [pair('s|1')], grace, grace, i);
    expect(m.of('p0', SILENT_MAX_PEERS).size).toBe(0);
    expect(m.of(`p${SILENT_MAX_PEERS}`, SILENT_MAX_PEERS).size).toBe(1);
  });
});
