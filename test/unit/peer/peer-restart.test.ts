/**
 * A peer restarts with the same identity (a new process: new socket, new session, no path) while
 * the other side still holds the old session and the old direct path, which now leads nowhere:
 * nothing tells it so until consent fails (RFC 7675, 30 s). The restarted side opens a new
 * session through the server and punches again. The other side must answer on a path that
 * works — the init came through the server, so the remote has no path to us and ours is stale —
 * and take the new punched path, not keep the dead one as "at least as good". Both ways carry
 * again within seconds, not after the consent timeout.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { PeerLink, type LinkPath } from '../../../src/peer/peer-link.js';
import { generateIdentity, type Identity } from '../../../src/signaling/identity.js';
import { silentLogger } from '../../../src/util/logger.js';
import { PunchWorld, SIGNAL_MS as S, type PeerSide } from '../punch/world.js';
import { attachToConnector } from './link-pair.js';

let world: PunchWorld | undefined;
const links: PeerLink[] = [];
afterEach(async () => {
  for (const l of links.splice(0)) l.close();
  await world?.close();
  world = undefined;
});

/** Far below consent's 30 s: what "within seconds" means here. */
const RECOVER_BOUND_MS = 6_000;

describe('a peer that restarts with the same identity', () => {
  it.each([true, false])(
    'is reached again within seconds over a new path (inits in checks: %s)',
    async (inChecks) => {
      const w = (world = await PunchWorld.create());
      const [a, b] = [generateIdentity(), generateIdentity()];
      const byId = new Map<string, PeerLink>();
      const got = new Map<string, string[]>();
      const events = new Map<PeerLink, LinkPath[]>();
      const mk = (me: Identity, other: Identity, side: PeerSide): PeerLink => {
        const l: PeerLink = new PeerLink({
          identity: me,
          remote: other.peerId,
          clock: w.clock,
          logger: silentLogger,
          remoteKey: () => Promise.resolve(other.publicKey),
          sendP2p: (d) => {
            const copy = new Uint8Array(d);
            // serve forwards to the remote's current connection (the newest process).
            w.clock.setTimeout(() => byId.get(other.peerId)?.handleServerDatagram(copy), 2 * S);
            return true;
          },
          connector: () => Promise.resolve(side.connector),
          onNotification: (n, path) => got.get(me.peerId)!.push(`${n.body}@${path}`),
          onPath: (e) => events.get(l)?.push(e.path),
          onPunch: () => {},
          handshakeInChecks: inChecks,
        });
        events.set(l, []);
        got.set(me.peerId, []);
        attachToConnector(l, side, inChecks);
        links.push(l);
        byId.set(me.peerId, l);
        return l;
      };
      const natA = w.nat('port-restricted');
      const sideA = await w.peer(a.peerId, natA, { offers: true });
      const sideB = await w.peer(b.peerId, w.nat('port-restricted'), { offers: true });
      const la = mk(a, b, sideA);
      const lb = mk(b, a, sideB);
      for (let t = 0; t < 1_000; t += 5) await w.clock.advanceAsync(5);
      void la.start();
      await w.run(
        (async () => {
          while (!(la.carries && lb.carries && la.path === 'direct' && lb.path === 'direct'))
            await new Promise((r) => setImmediate(r));
        })(),
        10_000,
      );
      expect([la.path, lb.path]).toEqual(['direct', 'direct']);

      // A's process dies: its link, connector and socket go; B hears nothing of it.
      la.close();
      await w.run(Promise.resolve(sideA.connector.close()));
      await sideA.socket.close();
      await w.clock.advanceAsync(1_000);
      expect(lb.carries).toBe(true); // B still believes in the old path

      // A comes back: same identity, a new socket behind the same NAT, a new session.
      const sideA2 = await w.peer(a.peerId, natA, { offers: true });
      got.set(a.peerId, []);
      const la2 = mk(a, b, sideA2);
      for (let t = 0; t < 500; t += 5) await w.clock.advanceAsync(5);
      const started = w.clock.now();
      void la2.start();
      const both = Promise.all([
        la2.notify({ id: 'a1', body: 'A is back' }, RECOVER_BOUND_MS),
        lb.notify({ id: 'b1', body: 'hello again A' }, RECOVER_BOUND_MS),
      ]);
      await w.run(both, RECOVER_BOUND_MS + 1_000);
      await both; // rejects with SESSION_SEND_TIMEOUT if either side stayed on the dead path
      expect(w.clock.now() - started).toBeLessThan(RECOVER_BOUND_MS);
      expect(got.get(b.peerId)!.map((x) => x.split('@')[0])).toContain('A is back');
      expect(got.get(a.peerId)!.map((x) => x.split('@')[0])).toContain('hello again A');
      // And B ends on a path that works: direct again, to the new process.
      await w.run(
        (async () => {
          while (!(lb.path === 'direct' && la2.path === 'direct' && lb.carries))
            await new Promise((r) => setImmediate(r));
        })(),
        10_000,
      );
      expect([la2.path, lb.path]).toEqual(['direct', 'direct']);
    },
  );
});
