/**
 * A punch offer through a real server's WebSocket connections (ws-connection.ts with
 * ws-punch-offers.ts): the offer a peer registers answers the first punch toward it at once —
 * the initiator gets it as the answer, the callee gets the punch marked `answered`, both get the
 * same `punch-start` — and it is handed out once: the next punch is forwarded unanswered. A peer
 * the callee does not allow gets neither the offer nor a forward. The hold after a welcome is
 * timed (punch-offers.ts); its rule is in test/unit/signaling/punch-offer-wait.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { generateIdentity, signChallenge } from '../../../src/signaling/identity.js';
import { allow, RawClient, Tracker } from './helpers.js';

const t = new Tracker();
afterEach(() => t.cleanup());

const host = (port: number) => [
  { type: 'host', protocol: 'udp', address: '127.0.0.1', port, priority: 1 },
];

/** Everything sent before on `c` was handled (frames are handled in order). */
async function barrier(c: RawClient, n: number): Promise<void> {
  c.send({ type: 'ping', t: n });
  await c.wait('pong', (m) => m.t === n);
}

describe('punch offers over WebSocket', () => {
  it('answers the first punch with the registered offer, once; never for a stranger', async () => {
    const s = await t.server();
    const [a, b, eve] = [await t.raw(s), await t.raw(s), await t.raw(s)];
    const [ida, idb] = [await a.login(), await b.login()];
    await eve.login();
    await allow(b, [ida.peerId]);
    b.send({ type: 'offer', candidates: host(5000), ufrag: 'bbbb', pwd: 'b'.repeat(22) });
    await barrier(b, 1);
    // A stranger's punch: nothing forwarded, and the offer is still there for a.
    eve.send({
      type: 'candidates',
      to: idb.peerId,
      rid: 'e1',
      candidates: host(6000),
      ufrag: 'eeee',
      pwd: 'e'.repeat(22),
    });
    await barrier(eve, 2);
    a.send({
      type: 'candidates',
      to: idb.peerId,
      rid: 'r1',
      candidates: host(4000),
      ufrag: 'aaaa',
      pwd: 'a'.repeat(22),
    });
    const answer = await a.wait('candidates', (m) => m.rid === 'r1');
    expect(answer).toMatchObject({ from: idb.peerId, ufrag: 'bbbb', answered: 'bbbb' });
    expect(answer.candidates).toEqual(host(5000));
    const forwarded = await b.wait('candidates', (m) => m.rid === 'r1');
    expect(forwarded).toMatchObject({ from: ida.peerId, ufrag: 'aaaa', answered: 'bbbb' });
    const [sa, sb] = [
      await a.wait('punch-start', (m) => m.rid === 'r1'),
      await b.wait('punch-start', (m) => m.rid === 'r1'),
    ];
    expect(sa.at).toBe(sb.at);
    // Handed out once: the next punch reaches b unanswered, and a gets nothing back for it.
    a.send({
      type: 'candidates',
      to: idb.peerId,
      rid: 'r2',
      candidates: host(4001),
      ufrag: 'aaab',
      pwd: 'a'.repeat(22),
    });
    const second = await b.wait('candidates', (m) => m.rid === 'r2');
    expect(second.answered).toBeUndefined();
    await barrier(a, 3);
    await barrier(b, 4);
    expect(a.frames.filter((f) => f.type === 'candidates' && f.rid === 'r2')).toHaveLength(0);
    expect(b.frames.filter((f) => f.type === 'candidates' && f.rid === 'e1')).toHaveLength(0);
    expect(eve.frames.filter((f) => f.type === 'candidates')).toHaveLength(0);
  });

  it("forwards punch-end from a peer in rendezvous, with its own id as `from`; never a stranger's", async () => {
    const s = await t.server();
    const [a, b, eve] = [await t.raw(s), await t.raw(s), await t.raw(s)];
    // a logs in by hand to read its welcome: serve lists punch-end (welcome.frames), so a client
    // sends it (an older serve does not list it, and the client then never sends it).
    const ida = generateIdentity();
    a.send({ type: 'hello', v: 1, peer: ida.peerId, publicKey: ida.publicKey });
    const c = await a.wait('challenge');
    a.send({ type: 'auth', nonce: c.nonce, signature: signChallenge(ida, c) });
    expect((await a.wait('welcome')).frames).toContain('punch-end');
    const idb = await b.login();
    await eve.login();
    await allow(b, [ida.peerId]);
    // A stranger's punch-end, naming a's punch: dropped like its candidates.
    eve.send({ type: 'punch-end', to: idb.peerId, rid: 'r1', ufrag: 'aaaa', reason: 'aborted' });
    await barrier(eve, 1);
    a.send({ type: 'punch-end', to: idb.peerId, rid: 'r1', ufrag: 'aaaa', reason: 'relay-lost' });
    const end = await b.wait('punch-end');
    expect(end).toEqual({
      type: 'punch-end',
      from: ida.peerId,
      rid: 'r1',
      ufrag: 'aaaa',
      reason: 'relay-lost',
    });
    await barrier(b, 2);
    expect(b.frames.filter((f) => f.type === 'punch-end')).toHaveLength(0);
    // a allows nobody (no `allow` sent): b's punch-end toward a is dropped too.
    b.send({ type: 'punch-end', to: ida.peerId, rid: 'r1', reason: 'failed' });
    await barrier(b, 3);
    await barrier(a, 4);
    expect(a.frames.filter((f) => f.type === 'punch-end')).toHaveLength(0);
  });
});
