/**
 * A third party that sees the checks cannot use them (RFC 8445 §7.3, RFC 8489 §9.1): checks and
 * answers carry MESSAGE-INTEGRITY keyed with per-session pwds that only travel over serve's
 * authenticated rendezvous, so
 * - a check with the right USERNAME but no pwd is not answered and teaches us nothing;
 * - a forged answer to a real check — right transaction id, spoofed source — cannot make a pair
 *   succeed: two peers behind symmetric NATs still end on the relay instead of a "direct" path
 *   pointing wherever the attacker likes;
 * - a nomination replayed from the attacker's own address is answered (it verifies) but never
 *   selected: our own check toward the attacker cannot succeed.
 */
import { describe, expect, it } from 'vitest';
import type { Endpoint } from '../../../src/net/index.js';
import { buildCheck, classifyPacket } from '../../../src/punch/index.js';
import {
  Attr,
  BINDING_SUCCESS,
  decodeStunMessage,
  readString,
  shortTermKey,
  StunMessageBuilder,
} from '../../../src/stun/index.js';
import { punch, type PeerSide, type PunchWorld } from './world.js';
import { twoPeers, worldPerTest } from './world-per-test.js';

const ATTACKER = '203.0.113.66';
const world = worldPerTest();

/**
 * An attacker on `port` that sniffs every check A sends to B and sends a copy to B from its own
 * address — before the original arrives (A's packets are held back a hop longer than the replay).
 */
async function replayChecks(w: PunchWorld, a: PeerSide, b: PeerSide, port: number) {
  const attacker = await w.net.addHost({ addresses: [ATTACKER] }).bindUdp({ port });
  let replayed = 0;
  w.net.dropIf((p) => {
    if (
      p.src.address === a.nat.publicAddress &&
      p.dst.address === b.nat.publicAddress &&
      classifyPacket(p.data) === 'stun-request'
    ) {
      replayed++;
      attacker.send(p.data, p.dst);
    }
    return false;
  });
  return { attacker, replayed: () => replayed };
}

describe('a third party on the path', () => {
  it('gets no answer to a check it cannot sign, and is not learned as a candidate', async () => {
    const w = await world.create();
    const { a, b } = await twoPeers(w);
    // Sniff a genuine check to learn A's public address and both ufrags.
    let seen: { to: Endpoint; username: string } | undefined;
    w.net.dropIf((p) => {
      if (
        !seen &&
        classifyPacket(p.data) === 'stun-request' &&
        p.dst.address === a.nat.publicAddress
      ) {
        const username = readString(decodeStunMessage(p.data), Attr.Username);
        if (username?.includes(':')) seen = { to: p.dst, username };
      }
      return false;
    });
    const [pa] = await punch(w, a, b);
    expect(seen).toBeDefined();
    const [aUfrag, bUfrag] = seen!.username.split(':') as [string, string];

    const attacker = await w.net.addHost({ addresses: [ATTACKER] }).bindUdp({ port: 6000 });
    const answers: Uint8Array[] = [];
    attacker.onMessage((d) => answers.push(d));
    const rejectedBefore = pa.stats.requestsRejected;
    const learnedBefore = pa.stats.prflxLearned;
    for (let i = 0; i < 5; i++) {
      const forged = buildCheck({
        local: { ufrag: bUfrag, pwd: 'not-the-pwd-of-this-session' },
        remote: { ufrag: aUfrag, pwd: 'guessed-guessed-guessed-pwd' },
        priority: 1,
        role: 'controlling',
        tieBreaker: 1n,
        useCandidate: true,
      });
      attacker.send(forged, seen!.to);
    }
    await w.clock.advanceAsync(500);
    expect(answers).toHaveLength(0);
    expect(pa.stats.requestsRejected - rejectedBefore).toBe(5);
    expect(pa.stats.prflxLearned).toBe(learnedBefore);
    await attacker.close();
  });

  it('cannot complete checks with forged answers: symmetric × symmetric stays on the relay', async () => {
    const w = await world.create();
    const { a, b } = await twoPeers(w, 'symmetric');
    const attackerHost = w.net.addHost({ addresses: [ATTACKER] });
    let forgedSent = 0;
    // On-path: every check A sends toward B's NAT is answered at once by the attacker, from
    // B's address (spoofed), with the right transaction id and a MESSAGE-INTEGRITY it made up.
    w.net.dropIf((p) => {
      const toB = p.dst.address === b.nat.publicAddress && p.src.address === a.nat.publicAddress;
      if (toB && classifyPacket(p.data) === 'stun-request') {
        const req = decodeStunMessage(p.data);
        const forged = new StunMessageBuilder(BINDING_SUCCESS, Uint8Array.from(req.transactionId))
          .addXorAddress(Attr.XorMappedAddress, p.src)
          .addIntegrity(shortTermKey('attacker-does-not-know-the-pwd'))
          .addFingerprint()
          .build();
        forgedSent++;
        queueMicrotask(() => attackerHost.send(p.dst, p.src, forged));
      }
      return false;
    });
    const [pa, pb] = await punch(w, a, b);
    expect(forgedSent).toBeGreaterThan(0);
    expect(pa.stats.responsesRejected).toBeGreaterThan(0);
    expect(pa.kind).toBe('relay');
    expect(pb.kind).toBe('relay');
  });

  it('cannot get a replayed nomination selected from its own address', async () => {
    const w = await world.create();
    const { a, b } = await twoPeers(w);
    const { attacker, replayed } = await replayChecks(w, a, b, 6001);
    const [pa, pb] = await punch(w, a, b);
    expect(replayed()).toBeGreaterThan(0);
    expect(pb.remote.address).toBe(a.nat.publicAddress);
    expect(pa.remote.address).toBe(b.nat.publicAddress);
    expect(pb.kind).toBe('direct');
    await attacker.close();
  });

  it('cannot make a path re-punch by replaying a sniffed consent check from elsewhere', async () => {
    const w = await world.create();
    const { a, b } = await twoPeers(w);
    const [, pb] = await punch(w, a, b);
    const moved: unknown[] = [];
    pb.onRepunchNeeded((e) => moved.push(e));
    const { attacker, replayed } = await replayChecks(w, a, b, 6002);
    await w.clock.advanceAsync(20_000); // several consent rounds
    expect(replayed()).toBeGreaterThan(0);
    expect(moved).toEqual([]);
    await attacker.close();
  });
});
