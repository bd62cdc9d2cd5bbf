/**
 * Both sides open the session at once — what every Peer does at first contact when both notify
 * (each `notify` calls `link.start()`: a punch and a Noise IK init each, a glare on both) — in
 * every order, with the inits in the checks or over the server, and with the first inits lost.
 * Two real PeerLinks (SecureSession, ReliableChannel, PunchConnector) on the in-memory network
 * in virtual time, stepped 1 ms at a time. At every step:
 *
 * - the label never lies: a link that says `direct` (its `path`, and the last `path` event it
 *   emitted) carries — a notification sent at that instant goes over the session on that path,
 *   not through the server. The responder of a Noise IK handshake has no usable keys until the
 *   initiator's first transport message arrives (key confirmation), a moment after both adopted
 *   the path; a label that said `direct` in that window sent a whole burst through the server
 *   (CI: "expected 0 to be greater than 50" in test/integration/peer/ladder.test.ts);
 * - and the session establishes: both links carry on the direct path within a bound, and a
 *   notification each way arrives over it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { PeerLink } from '../../../src/peer/peer-link.js';
import { ATTR_HANDSHAKE } from '../../../src/punch/check-message.js';
import { classifyPacket } from '../../../src/punch/demux.js';
import { decodeStunMessage } from '../../../src/stun/message.js';
import { generateIdentity } from '../../../src/signaling/identity.js';
import { SIGNAL_MS as S } from '../punch/world.js';
import { closeLinkWorld, linkPair, linkWorld } from './link-pair.js';

afterEach(closeLinkWorld);

interface Case {
  /** Which side starts first, and by how many ms the other follows. */
  first: 'lower' | 'higher';
  gapMs: number;
  /** The inits ride in the punch's first checks (the Peer's setting) or go over the server. */
  inChecks: boolean;
  /** The remote's key arrives after a key-request round trip (2 S) instead of at once. */
  keyDelayMs: number;
  /** Lose: nothing, each side's first session datagram on the server rung, or every check
   *  that carries an init. */
  lose: 'none' | 'first-server-datagram' | 'checks-with-init';
}

async function setup(c: Case) {
  const w = await linkWorld();
  let [lo, hi] = [generateIdentity(), generateIdentity()];
  if (lo.peerId > hi.peerId) [lo, hi] = [hi, lo];
  const sides = {
    lo: await w.peer(lo.peerId, w.nat('port-restricted'), { offers: true }),
    hi: await w.peer(hi.peerId, w.nat('port-restricted'), { offers: true }),
  };
  const serverSent = { a: 0, b: 0 };
  const pair = linkPair(w, [lo, sides.lo], [hi, sides.hi], {
    keyDelayMs: c.keyDelayMs,
    loseServer: (end) => c.lose === 'first-server-datagram' && serverSent[end]++ === 0,
    handshakeInChecks: c.inChecks,
  });
  const events = { lo: pair.events.a, hi: pair.events.b };
  const got = { lo: pair.gotAt.a, hi: pair.gotAt.b };
  if (c.lose === 'checks-with-init')
    w.net.dropIf(
      (p) =>
        classifyPacket(p.data) === 'stun-request' && decodeStunMessage(p.data).has(ATTR_HANDSHAKE),
    );
  // Both logged in for a while: candidates gathered, offers registered with the hub.
  for (let t = 0; t < 1_000; t += 5) await w.clock.advanceAsync(5);
  return { w, lo: pair.a, hi: pair.b, events, got };
}

const cases: Case[] = [];
for (const first of ['lower', 'higher'] as const)
  for (const gapMs of [0, 1, 7, S, 3 * S])
    for (const inChecks of [true, false])
      cases.push({ first, gapMs, inChecks, keyDelayMs: 2 * S, lose: 'none' });
for (const first of ['lower', 'higher'] as const) {
  cases.push({ first, gapMs: 0, inChecks: true, keyDelayMs: 0, lose: 'none' });
  cases.push({ first, gapMs: 0, inChecks: true, keyDelayMs: 2 * S, lose: 'checks-with-init' });
  for (const inChecks of [true, false])
    cases.push({ first, gapMs: 0, inChecks, keyDelayMs: 2 * S, lose: 'first-server-datagram' });
}

/** Both carry on the direct path within this much virtual time of the second start. */
const ESTABLISH_BOUND_MS = 8_000;

describe('a simultaneous open (glare) of the session and the punch', () => {
  it.each(cases)(
    '$first side first by $gapMs ms, inits in checks: $inChecks, key after $keyDelayMs ms, lost: $lose',
    async (c) => {
      const { w, lo, hi, events, got } = await setup(c);
      const [first, second] = c.first === 'lower' ? [lo, hi] : [hi, lo];
      void first.start();
      for (let t = 0; t < c.gapMs; t++) await w.clock.advanceAsync(1);
      void second.start();
      const lies: string[] = [];
      const check = (name: 'lo' | 'hi', l: PeerLink): void => {
        const said = events[name].at(-1) ?? 'server';
        if ((l.path !== 'server' || said !== 'server') && !l.carries)
          lies.push(
            `${w.clock.now()} ${name}: path ${l.path}, last event ${said}, session ${l.session.state}`,
          );
      };
      let t = 0;
      for (; t < ESTABLISH_BOUND_MS; t++) {
        await w.clock.advanceAsync(1);
        check('lo', lo);
        check('hi', hi);
        if (lo.carries && hi.carries && lo.path === 'direct' && hi.path === 'direct') break;
      }
      expect(lies.slice(0, 3)).toEqual([]);
      expect({
        lo: lo.path,
        hi: hi.path,
        lo_state: lo.session.state,
        hi_state: hi.session.state,
      }).toEqual({ lo: 'direct', hi: 'direct', lo_state: 'established', hi_state: 'established' });
      expect(lo.carries && hi.carries).toBe(true);
      expect(events.lo.at(-1)).toBe('direct');
      expect(events.hi.at(-1)).toBe('direct');
      // One notification each way over the session, on the direct path.
      await w.run(
        Promise.all([
          lo.notify({ id: 'l1', body: 'to hi' }, 5_000),
          hi.notify({ id: 'h1', body: 'to lo' }, 5_000),
        ]),
      );
      expect(got.hi).toEqual(['to hi@direct']);
      expect(got.lo).toEqual(['to lo@direct']);
      // The events never flapped: each side went up once, to direct.
      expect(events.lo).toEqual(['direct']);
      expect(events.hi).toEqual(['direct']);
    },
  );
});
