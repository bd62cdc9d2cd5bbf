/**
 * A link whose path dies while its punch runs re-punches the moment that punch ends (issue 12).
 * relay-move.test.ts saw the sides of a relayed link wait 19–25 s for a relay B they already had:
 * the periodic try-for-direct punch, begun before the relay died, ran on; the re-punch timer the
 * death set fired while it ran and was lost (one punch at a time), and its failure then backed
 * off again. The punch layer here is a scripted LinkConnector (the seam the link is given,
 * CONTRACTS §4): each `connect` is settled by the test, so what is checked is the link's own
 * rule; the session is real (Noise over the server rung), time a ManualClock.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Endpoint } from '../../../src/net/udp.js';
import { PeerLink } from '../../../src/peer/peer-link.js';
import { REPUNCH } from '../../../src/peer/peer-link-types.js';
import type { PunchedPath } from '../../../src/punch/index.js';
import { generateIdentity } from '../../../src/signaling/identity.js';
import { ManualClock } from '../../../src/util/clock.js';
import { silentLogger } from '../../../src/util/logger.js';

const links: PeerLink[] = [];
afterEach(() => {
  for (const l of links.splice(0)) l.close();
});

/** A UDP path the test kills by hand: what PeerLink uses of a PunchedPath. */
function scriptedPath(kind: 'relay' | 'direct'): PunchedPath & { die(reason: string): void } {
  const dead = new Set<(reason: string) => void>();
  let closed = false;
  const at: Endpoint = { address: '198.51.100.7', port: 50000 };
  const p = {
    kind,
    local: at,
    remote: at,
    rttMs: 10,
    remoteType: kind === 'relay' ? 'relay' : 'srflx',
    stats: {},
    send: () => {},
    onData: () => () => {},
    onDead: (cb: (reason: string) => void) => (dead.add(cb), () => dead.delete(cb)),
    onRepunchNeeded: () => () => {},
    close: () => void (closed = true),
    get closed() {
      return closed;
    },
    die: (reason: string) => {
      for (const cb of [...dead]) cb(reason);
    },
  };
  return p as unknown as PunchedPath & { die(reason: string): void };
}

interface Call {
  at: number;
  resolve(p: PunchedPath): void;
  reject(err: Error): void;
}

async function relayedLink(): Promise<{
  clock: ManualClock;
  la: PeerLink;
  calls: Call[];
  relayed: ReturnType<typeof scriptedPath>;
}> {
  const clock = new ManualClock(0);
  const [a, b] = [generateIdentity(), generateIdentity()];
  const byId = new Map<string, PeerLink>();
  const calls: Call[] = [];
  const mk = (me: typeof a, other: typeof a, punches: boolean): PeerLink => {
    const l = new PeerLink({
      identity: me,
      remote: other.peerId,
      clock,
      logger: silentLogger,
      remoteKey: () => Promise.resolve(other.publicKey),
      sendP2p: (d) => {
        const copy = new Uint8Array(d);
        clock.setTimeout(() => byId.get(other.peerId)?.handleServerDatagram(copy), 20);
        return true;
      },
      // B has no punch layer: only A's punches are counted.
      connector: () =>
        Promise.resolve(
          punches
            ? {
                connect: () =>
                  new Promise<PunchedPath>((resolve, reject) =>
                    calls.push({ at: clock.now(), resolve, reject }),
                  ),
              }
            : undefined,
        ),
      onNotification: () => {},
      onPath: () => {},
      onPunch: () => {},
    });
    links.push(l);
    byId.set(me.peerId, l);
    return l;
  };
  const la = mk(a, b, true);
  mk(b, a, false);
  void la.start();
  for (let t = 0; t < 2_000 && !la.session.established; t += 10) await clock.advanceAsync(10);
  expect(la.session.established).toBe(true);
  // The first punch gives a relayed path; the link tries for direct again REPUNCH.initial later.
  expect(calls).toHaveLength(1);
  const relayed = scriptedPath('relay');
  calls[0]!.resolve(relayed);
  await clock.advanceAsync(0);
  expect(la.path).toBe('relay');
  return { clock, la, calls, relayed };
}

describe('a link whose path died while its punch ran', () => {
  it('re-punches as soon as the punch ends, once; a second failure backs off', async () => {
    const { clock, la, calls, relayed } = await relayedLink();
    for (let t = 0; t < REPUNCH.max && calls.length < 2; t += 100) await clock.advanceAsync(100);
    expect(calls).toHaveLength(2); // the try-for-direct punch, running now
    // The relay dies under the running punch: the link drops to the server rung.
    relayed.die('the remote stopped answering');
    await clock.advanceAsync(0);
    expect(la.path).toBe('server');
    // The punch (begun on the dead relay's candidates) runs to its 15 s timeout meanwhile: any
    // re-punch timer the death set fires during it and finds it running.
    await clock.advanceAsync(15_000);
    expect(calls).toHaveLength(2);
    calls[1]!.reject(new Error('punch with b failed: no pair selected within 15000 ms'));
    await clock.advanceAsync(0);
    // At once, not a backoff (≥ REPUNCH.initial) later.
    expect(calls).toHaveLength(3);
    expect(calls[2]!.at - clock.now()).toBe(0);
    // That one fails too: now the usual backoff, no loop.
    calls[2]!.reject(new Error('punch with b failed: every candidate pair failed'));
    await clock.advanceAsync(REPUNCH.initial - 1);
    expect(calls).toHaveLength(3);
    for (let t = 0; t < REPUNCH.max && calls.length < 4; t += 100) await clock.advanceAsync(100);
    expect(calls).toHaveLength(4);
  });

  it('re-punches at once after a punch our lost relay allocation ended', async () => {
    const { clock, la, calls } = await relayedLink();
    // The path died before the punch began (so no death during it): the punch that then runs
    // is ended by the connector because it offered the lost allocation (#endRelayed).
    la.dropPath('no answer on the path for 6.2 s with data in flight');
    for (let t = 0; t < REPUNCH.max && calls.length < 2; t += 100) await clock.advanceAsync(100);
    expect(calls).toHaveLength(2);
    await clock.advanceAsync(3_000);
    calls[1]!.reject(new Error('punch with b failed: relay allocation lost (ours, offered)'));
    await clock.advanceAsync(0);
    expect(calls).toHaveLength(3);
    expect(la.path).toBe('server');
  });
});
