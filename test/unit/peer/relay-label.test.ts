/**
 * A path through a relay is labelled `relay`, never `direct`. With the peers' NATs unable to
 * reach each other, the only working pairs run through serve's TURN relay. When a peer's relayed
 * candidate is trickled (its allocation finished after its first `candidates` frame, as right
 * after login), its check from the relay base can reach the other side first: the source, the
 * relay's address, is then learned as a peer-reflexive candidate, and the pair toward it looked
 * direct. Once the relayed candidate arrives at that address, the pair, the selected path and
 * the link say `relay` (checklist.ts, path.ts, peer-link.ts). relaymove3 saw such a relayed
 * path labelled `direct`; the ladder then never tried for a real direct path.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { pongPath } from '../../../src/peer/link-table.js';
import { PeerLink, type LinkPath } from '../../../src/peer/peer-link.js';
import type { PathKind, PunchedPath } from '../../../src/punch/index.js';
import { ManualClock } from '../../../src/util/clock.js';
import type { Identity } from '../../../src/signaling/identity.js';
import { silentLogger } from '../../../src/util/logger.js';
import { SIGNAL_MS, type NatKind } from '../punch/world.js';
import { closeLinkWorld, linkPair, linkWorld, trackLink } from './link-pair.js';
import { orderedIdentities, orderedPeers } from './ordered-peers.js';

afterEach(closeLinkWorld);

/** Two peers whose NATs cannot reach each other; TURN credentials after `credentialsDelayMs`. */
async function world2(ka: NatKind, kb: NatKind, credentialsDelayMs: number) {
  const w = await linkWorld({ punchLeadMs: 20, credentialsDelayMs });
  const { ia, ib, sa: a, sb: b } = await orderedPeers(w, ka, kb);
  w.net.dropIf(
    (p) =>
      (p.src.address === a.nat.publicAddress && p.dst.address === b.nat.publicAddress) ||
      (p.src.address === b.nat.publicAddress && p.dst.address === a.nat.publicAddress),
  );
  return { w, ia, ib, a, b };
}

const cases: [NatKind, NatKind, number][] = [
  ['full-cone', 'full-cone', 2 * SIGNAL_MS], // mislabelled before: a's path said direct
  ['full-cone', 'full-cone', 0],
  ['port-restricted', 'port-restricted', 2 * SIGNAL_MS],
  ['symmetric', 'port-restricted', 2 * SIGNAL_MS],
];

describe('a path through a relay says relay', () => {
  it.each(cases)(
    '%s × %s, relay allocated after %d ms: both ends of the punch',
    async (ka, kb, d) => {
      const { w, a, b } = await world2(ka, kb, d);
      const incoming = new Promise<PunchedPath>((resolve, reject) => {
        b.connector.onIncoming((p) => void p.path.then(resolve, reject));
      });
      const [pa, pb] = await w.run(Promise.all([a.connector.connect(b.id), incoming]));
      // Trickles still on their way settle within a signaling round trip.
      await w.clock.advanceAsync(4 * SIGNAL_MS);
      expect([pa.kind, pb.kind]).toEqual(['relay', 'relay']);
      pa.close();
      pb.close();
    },
  );

  it.each(cases)(
    '%s × %s, relay allocated after %d ms: the links end on relay',
    async (ka, kb, d) => {
      const { w, ia, ib, a, b } = await world2(ka, kb, d);
      const pair = linkPair(w, [ia, a], [ib, b]);
      const { events } = pair;
      const [la, lb] = [pair.a, pair.b];
      void la.start();
      for (let t = 0; t < 10_000 && !(la.carries && lb.carries); t += 5)
        await w.clock.advanceAsync(5);
      // A notification each way: the first datagram on a relabelled path says so at the latest.
      await w.run(
        Promise.all([
          la.notify({ id: 'x', body: 'to b' }, 5_000),
          lb.notify({ id: 'y', body: 'to a' }, 5_000),
        ]),
      );
      expect([la.path, lb.path]).toEqual(['relay', 'relay']);
      expect([events.a.at(-1), events.b.at(-1)]).toEqual(['relay', 'relay']);
      const got = [...pair.gotAt.a, ...pair.gotAt.b];
      expect(got.sort()).toEqual(['to a@relay', 'to b@relay']);
      expect(la.lastPunchError).toBeDefined(); // a relay result: direct is retried later
    },
  );
});

describe("a first-flight pong on a punch that ended on the relay says relay (ping's label)", () => {
  it.each(cases)('%s × %s, relay allocated after %d ms', async (ka, kb, d) => {
    const { w, ia, ib, a, b } = await world2(ka, kb, d);
    const pair = linkPair(w, [ia, a], [ib, b], { handshakeInChecks: true });
    const la = pair.a;
    // As LinkTable.ping: start, ping, then the label from the link as the pong resolved it.
    const label = await w.run(
      (async () => {
        await la.start();
        await la.ping(10_000);
        return { ...pongPath(la.path, la.lastRxInCheck), path: la.path };
      })(),
    );
    // Whatever carried the pong (a check's answer or the adopted path): never direct here.
    expect(label).toMatchObject({ firstFlight: false });
    expect(pongPath(la.path, la.lastRxInCheck).path).not.toBe('direct');
    // The label itself, for either way the pong came (the NOTE4 miscount: check answer + relay).
    expect(pongPath('relay', true)).toEqual({ path: 'relay', firstFlight: false });
    expect(pongPath('direct', true)).toEqual({ path: 'direct', firstFlight: true });
    expect(pongPath('server', true)).toEqual({ path: 'direct', firstFlight: true });
    expect(pongPath('server', false)).toEqual({ path: 'server-routed', firstFlight: false });
  });
});

/**
 * Two ends of an in-memory path whose kind can change after selection, as a PunchedPath's does
 * when the remote's relayed candidate arrives after the pair was selected (path.ts reads the
 * pair's kind live). Datagrams cross after 5 ms.
 */
function pathPair(clock: ManualClock) {
  const state = { kind: 'direct' as PathKind };
  const mk = () => {
    const listeners = new Set<(b: Uint8Array) => void>();
    let closed = false;
    const end = {
      peer: undefined as undefined | { deliver: (b: Uint8Array) => void },
      deliver: (b: Uint8Array) => {
        if (!closed) for (const l of listeners) l(b);
      },
      path: {
        get kind() {
          return state.kind;
        },
        local: { address: '192.0.2.1', port: 1 },
        remote: { address: '192.0.2.2', port: 2 },
        rttMs: 10,
        remoteType: 'prflx',
        stats: {} as PunchedPath['stats'],
        send: (b: Uint8Array) => {
          const copy = Uint8Array.from(b);
          clock.setTimeout(() => end.peer!.deliver(copy), 5);
        },
        onData: (cb: (b: Uint8Array) => void) => {
          listeners.add(cb);
          return () => listeners.delete(cb);
        },
        onDead: () => () => {},
        onRepunchNeeded: () => () => {},
        close: () => (closed = true),
        get closed() {
          return closed;
        },
      } as PunchedPath,
    };
    return end;
  };
  const x = mk();
  const y = mk();
  x.peer = y;
  y.peer = x;
  return { state, a: x.path, b: y.path };
}

describe('a selected direct path relabelled relay', () => {
  it('the link says relay at the next datagram and tries for direct again later', async () => {
    const clock = new ManualClock();
    const [ia, ib] = orderedIdentities();
    const events: Record<'a' | 'b', LinkPath[]> = { a: [], b: [] };
    const punches: string[] = [];
    const byName: Partial<Record<'a' | 'b', PeerLink>> = {};
    const mk = (me: Identity, other: Identity, name: 'a' | 'b'): PeerLink => {
      const l = new PeerLink({
        identity: me,
        remote: other.peerId,
        clock,
        logger: silentLogger,
        remoteKey: () => Promise.resolve(other.publicKey),
        sendP2p: (dg) => {
          const copy = new Uint8Array(dg);
          clock.setTimeout(() => byName[name === 'a' ? 'b' : 'a']!.handleServerDatagram(copy), 20);
          return true;
        },
        // A re-punch is asked for and never ends (the test only counts it).
        connector: () =>
          Promise.resolve({
            connect: () => {
              punches.push(name);
              return new Promise<PunchedPath>(() => {});
            },
          }),
        onNotification: () => {},
        onPath: (e) => events[name].push(e.path),
        onPunch: () => {},
        repunchMs: { initial: 1_000, max: 1_000 },
      });
      trackLink(l);
      byName[name] = l;
      return l;
    };
    const la = mk(ia, ib, 'a');
    const lb = mk(ib, ia, 'b');
    const paths = pathPair(clock);
    la.adopt(paths.a);
    lb.adopt(paths.b);
    void la.start(); // the key and the handshake (no punch: the path is direct already)
    const run = async (p: Promise<unknown>) => {
      let done = false;
      void p.finally(() => (done = true));
      for (let t = 0; t < 10_000 && !done; t += 5) await clock.advanceAsync(5);
      return p;
    };
    await run(la.notify({ id: 'x', body: 'first' }, 5_000));
    expect([la.path, lb.path]).toEqual(['direct', 'direct']);
    expect(events).toEqual({ a: ['direct'], b: ['direct'] });
    const punchesBefore = punches.length;
    paths.state.kind = 'relay'; // the remote's relayed candidate arrived at the path's address
    await run(la.notify({ id: 'y', body: 'second' }, 5_000));
    expect([la.path, lb.path]).toEqual(['relay', 'relay']);
    expect(events).toEqual({ a: ['direct', 'relay'], b: ['direct', 'relay'] });
    expect(la.lastPunchError).toMatch(/relay/);
    await clock.advanceAsync(1_500);
    expect(punches.length).toBeGreaterThan(punchesBefore); // direct is tried for again
  });
});
