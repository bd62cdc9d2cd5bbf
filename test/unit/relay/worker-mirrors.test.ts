/**
 * The primary's copy of the workers' allocation mirrors (src/server/workers/mirror-cache.ts): a
 * relay worker that starts — a replacement for one that died — gets the others' existing
 * allocations at once. Without them its clients were refused 403 on a ChannelBind to another
 * worker's relayed address (a relay address of ours: allowed only as a relayed transport address
 * the worker knows) and their packets could not be handed over.
 */
import { describe, expect, it } from 'vitest';
import { isTurnClientError } from '../../../src/relay/errors.js';
import type { SiblingExchange, SiblingState } from '../../../src/relay/server/siblings.js';
import { SiblingTable } from '../../../src/relay/server/siblings.js';
import type { TurnServer } from '../../../src/relay/server/turn-server.js';
import { MIRROR_SNAPSHOT_CHUNK } from '../../../src/server/workers/constants.js';
import { MirrorCache } from '../../../src/server/workers/mirror-cache.js';
import type { ManualClock } from '../../../src/util/clock.js';
import { closedAfterEach, RELAY, workerHost } from './worker-host.js';

const settle = (): Promise<void> => new Promise((r) => setImmediate(r));
const closers = closedAfterEach();

const state = (port: number, expiresAt = 1_000_000): SiblingState => ({
  client: { address: '198.51.100.1', port },
  expiresAt,
  permissions: [['198.51.100.9', expiresAt]],
  channels: [[0x4000, '198.51.100.9', 9, expiresAt]],
});

describe('MirrorCache', () => {
  it('a snapshot holds the other workers’ live allocations, not the receiver’s or expired ones', () => {
    const c = new MirrorCache(10);
    c.set(0, 50_000, state(1));
    c.set(1, 50_001, state(2));
    c.set(2, 50_002, state(3, 500)); // expires at 500
    expect(c.snapshot(1, 100).flat()).toEqual([
      [0, 50_000, state(1)],
      [2, 50_002, state(3, 500)],
    ]);
    expect(c.snapshot(1, 500).flat()).toEqual([[0, 50_000, state(1)]]);
    expect(c.size).toBe(2); // the expired one is gone
  });

  it('an end deletes only the holder’s entry; a dead worker’s entries go', () => {
    const c = new MirrorCache(10);
    c.set(0, 50_000, state(1));
    c.set(1, 50_000, state(2)); // port freed by 0 and taken by 1, announced before 0's end
    c.set(0, 50_000, undefined); // 0's end, late: not 1's allocation
    expect(c.snapshot(2, 0).flat()).toEqual([[1, 50_000, state(2)]]);
    c.set(0, 50_001, state(3));
    c.forget(1);
    expect(c.snapshot(2, 0).flat()).toEqual([[0, 50_001, state(3)]]);
  });

  it('is bounded: entries beyond max are not recorded (counted), updates of held ones are', () => {
    const c = new MirrorCache(2);
    c.set(0, 1, state(1));
    c.set(0, 2, state(2));
    c.set(0, 3, state(3));
    expect([c.size, c.refused]).toEqual([2, 1]);
    c.set(0, 2, state(22));
    expect(c.snapshot(1, 0).flat()).toEqual([
      [0, 1, state(1)],
      [0, 2, state(22)],
    ]);
    expect(() => new MirrorCache(0)).toThrow(RangeError);
  });

  it('sends a large snapshot in chunks', () => {
    const n = 2 * MIRROR_SNAPSHOT_CHUNK + 1;
    const c = new MirrorCache(n);
    for (let p = 0; p < n; p++) c.set(0, 10_000 + p, state(p));
    expect(c.snapshot(1, 0).map((x) => x.length)).toEqual([
      MIRROR_SNAPSHOT_CHUNK,
      MIRROR_SNAPSHOT_CHUNK,
      1,
    ]);
  });

  it('a worker that applies the snapshot holds what one there all along holds', () => {
    // A deterministic mix of sets, ends (some late, from a worker that no longer holds the
    // port) and a death, from workers 0 and 2; worker 1 sees them live, a newcomer by snapshot.
    const c = new MirrorCache(1_000);
    const live = new SiblingTable([RELAY]);
    let x = 7;
    const next = (m: number): number => (x = (x * 1_103_515_245 + 12_345) % 2 ** 31) % m;
    const update = (from: number, port: number, s: SiblingState | undefined): void => {
      c.set(from, port, s);
      live.apply(from, port, s);
    };
    for (let i = 0; i < 2_000; i++) {
      const from = next(2) * 2;
      const port = 40_000 + next(50);
      update(from, port, next(3) === 0 ? undefined : state(i));
      if (i === 1_000) {
        c.forget(2);
        live.forget(2);
      }
    }
    const fresh = new SiblingTable([RELAY]);
    for (const [from, port, s] of c.snapshot(1, 0).flat()) fresh.apply(from, port, s);
    expect(fresh.size).toBe(live.size);
    expect(fresh.size).toBeGreaterThan(0);
    for (let port = 40_000; port < 40_050; port++) {
      expect(fresh.at(RELAY, port)).toEqual(live.at(RELAY, port));
    }
  });
});

type Apply = (from: number, port: number, state: SiblingState | undefined) => void;

/** The primary of `relay --workers` in memory: passes updates on, keeps them in a MirrorCache and
 *  gives a worker the snapshot when it is ready (pool.ts). */
function primary(clock: ManualClock) {
  const cache = new MirrorCache(100);
  const workers = new Map<number, Apply>();
  const exchange = (me: number): SiblingExchange => ({
    publish: (port, s) => {
      cache.set(me, port, s);
      for (const [i, apply] of workers) if (i !== me) apply(me, port, s);
    },
    serve: (apply) => void workers.set(me, apply),
  });
  const ready = (me: number): void => {
    for (const [from, port, s] of cache.snapshot(me, clock.now()).flat()) {
      workers.get(me)!(from, port, s);
    }
  };
  return { exchange, ready };
}

async function world() {
  const host = workerHost(closers);
  const p = primary(host.clock);
  const start = async (index: number, port: number, snapshot: boolean): Promise<TurnServer> => {
    const s = await host.start(port, p.exchange(index));
    if (snapshot) p.ready(index);
    return s;
  };
  return { start, client: host.client };
}

describe('a relay worker that starts after its sibling’s allocations exist', () => {
  it.each([
    [true, 'with the snapshot: its client binds to the sibling’s allocation and packets go across'],
    [false, 'without it (before mirror-cache.ts): 403, the address is ours and unknown'],
  ])('%s — %s', async (snapshot) => {
    const w = await world();
    await w.start(0, 3478, true);
    const a = await w.client(3478); // exists before worker 1 starts
    const s1 = await w.start(1, 3479, snapshot);
    const c = await w.client(3479);
    const bound = await c.bindChannel(a.relayedAddress).catch((e: unknown) => e);
    if (!snapshot) {
      expect(isTurnClientError(bound) && bound.status === 403, String(bound)).toBe(true);
      return;
    }
    expect(typeof bound).toBe('number');
    // a's channel to c: worker 1 learns it as it happens (an update, not the snapshot).
    const aToC = await a.bindChannel(c.relayedAddress);
    await settle();
    a.raw.length = 0;
    c.send(a.relayedAddress, Uint8Array.of(4, 2));
    await settle();
    // Handed over by worker 1 itself, from its socket (in `--workers` the shared port; here its
    // own, so the test can tell), as a's ChannelData.
    expect(a.raw).toEqual([
      [[aToC >>> 8, aToC & 0xff, 0, 2, 4, 2], { address: RELAY, port: 3479 }],
    ]);
    expect(s1.counters.toSiblingClientPackets).toBe(1);
  });
});
