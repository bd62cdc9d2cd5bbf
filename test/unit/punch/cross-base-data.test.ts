/**
 * Issue 9/11 (netsim, pcp restarted): the two sides of one punch selected pairs on different
 * bases. The controlling side's first answered aggressive nomination went to the controlled
 * side's RELAYED address (peer-reflexive there, so labelled direct), while the controlled side
 * selected a socket pair. The controlling side's data then reached the controlled side through
 * its relay allocation, where the path's data filter dropped it ("not this path's remote": only
 * the selected base counted); consent checks (STUN) were answered on both pairs, and every ping
 * was lost for ~90 s.
 *
 * Forced here: a relayed selection first (the direct link cut through the grace), so the relay
 * pairs are checked and heard on B's relay base; then both move to direct; then A sends a session
 * datagram from its socket to B's relayed address, as A did on its pair through B's relay.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Endpoint } from '../../../src/net/udp.js';
import { punch, PunchWorld } from './world.js';

let world: PunchWorld | undefined;

afterEach(async () => {
  await world?.close();
  world = undefined;
});

describe('a selected path takes session data from the remote on either base', () => {
  it("data through our relay from a remote heard there reaches the socket pair's path", async () => {
    world = await PunchWorld.create();
    const w = world;
    const a = await w.peer('peer-a', w.nat('port-restricted'));
    const b = await w.peer('peer-b', w.nat('port-restricted'));
    let directCut = true;
    w.net.dropIf(
      (p) =>
        directCut &&
        ((p.src.address === a.nat.publicAddress && p.dst.address === b.nat.publicAddress) ||
          (p.src.address === b.nat.publicAddress && p.dst.address === a.nat.publicAddress)),
    );
    const [pa, pb] = await punch(w, a, b);
    expect([pa.kind, pb.kind]).toEqual(['relay', 'relay']);
    // B's relayed address: where A's relayed pair sends (A's side of a pair through B's relay).
    const bRelayed: Endpoint = { ...pb.local };
    directCut = false;
    await w.clock.advanceAsync(8_000);
    expect([pa.kind, pb.kind]).toEqual(['direct', 'direct']);
    const atB: number[] = [];
    pb.onData((d) => atB.push(d[1]!));
    // On the direct pair, as both hold it.
    pa.send(Uint8Array.of(0xc2, 1));
    await w.clock.advanceAsync(200);
    // From A's socket through B's allocation: A's pair (socket → B's relayed address).
    a.socket.send(Uint8Array.of(0xc2, 2), bRelayed);
    await w.clock.advanceAsync(200);
    expect(atB).toEqual([1, 2]);
  });
});
