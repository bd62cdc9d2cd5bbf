/**
 * The Noise IK handshake carried in the punch's connectivity checks (secure-session.ts
 * `initForCheck` / `answerInCheck`, checks.ts `handshake`, check-message.ts ATTR_HANDSHAKE):
 * - an init in a check that does not verify (wrong pwd, or the attribute altered after the MI)
 *   is never handed to the session and gets no answer;
 * - a copy of an answered init gets the same answer and delivers nothing twice; an older init
 *   replayed after a newer one was accepted is refused with its 0-RTT data;
 * - glare (both sides' inits in their checks) ends in one session, the lower id's rules;
 * - an init lost in the checks, or a hold no check takes, falls back to the server handshake.
 */
import { describe, expect, it } from 'vitest';
import type { Endpoint } from '../../../src/net/index.js';
import {
  ATTR_HANDSHAKE,
  buildCheck,
  responseHandshake,
  verifyCheckResponse,
} from '../../../src/punch/check-message.js';
import { CheckAgent } from '../../../src/punch/checks.js';
import { SESSION_DEFAULTS } from '../../../src/session/constants.js';
import { SecureSession } from '../../../src/session/secure-session.js';
import { generateIdentity, type Identity } from '../../../src/signaling/identity.js';
import { decodeStunMessage } from '../../../src/stun/message.js';
import { StunTransactions } from '../../../src/stun/transaction.js';
import { ManualClock } from '../../../src/util/clock.js';

const FROM: Endpoint = { address: '198.51.100.7', port: 4000 };

function agentWith(answer: (d: Uint8Array) => Uint8Array | undefined) {
  const clock = new ManualClock();
  const local = { ufrag: 'LLLLLLLL', pwd: 'local-pwd-local-pwd-local' };
  const remote = { ufrag: 'RRRRRRRR', pwd: 'remote-pwd-remote-pwd-rem' };
  const sent: Uint8Array[] = [];
  const answered: Uint8Array[] = [];
  const agent = new CheckAgent({
    role: 'controlling',
    tieBreaker: 5n,
    local,
    remote,
    localPriority: { socket: 100 },
    transactions: { socket: new StunTransactions({ send: () => {}, clock }) },
    send: (b) => sent.push(b),
    clock,
    handshake: {
      init: () => undefined,
      answer: (d) => {
        answered.push(Uint8Array.from(d));
        return answer(d);
      },
      response: () => {},
    },
  });
  return { agent, local, remote, sent, answered };
}

function pair(): { lo: Identity; hi: Identity } {
  const [x, y] = [generateIdentity(), generateIdentity()];
  return x.peerId < y.peerId ? { lo: x, hi: y } : { lo: y, hi: x };
}

/** Two sessions; the server path between them is `server` (delivered on demand). */
function sessions(a: Identity, b: Identity) {
  const clock = new ManualClock();
  const server: { to: 'a' | 'b'; d: Uint8Array }[] = [];
  const got = { a: [] as string[], b: [] as string[] };
  const sa = new SecureSession({
    identity: a,
    remotePeerId: b.peerId,
    remotePublicKey: b.publicKey,
    clock,
    send: (d) => server.push({ to: 'b', d: Uint8Array.from(d) }),
  });
  const sb = new SecureSession({
    identity: b,
    remotePeerId: a.peerId,
    clock,
    send: (d) => server.push({ to: 'a', d: Uint8Array.from(d) }),
  });
  sa.onMessage((m) => got.a.push(Buffer.from(m).toString()));
  sb.onMessage((m) => got.b.push(Buffer.from(m).toString()));
  const deliver = (): void => {
    while (server.length > 0) {
      const { to, d } = server.shift()!;
      (to === 'a' ? sa : sb).handle(d);
    }
  };
  return { clock, sa, sb, got, server, deliver };
}

describe('an init carried in a check', () => {
  it('is ignored unless the check verifies, the attribute included', () => {
    const t = agentWith(() => Uint8Array.from([0xc2, 1, 2, 3]));
    const init = Uint8Array.from([0xc1, 9, 9, 9]);
    // No pwd: not answered, not handed to the session.
    const forged = buildCheck({
      local: { ufrag: t.remote.ufrag, pwd: 'guessed' },
      remote: { ufrag: t.local.ufrag, pwd: 'guessed-guessed-guessed' },
      priority: 1,
      role: 'controlled',
      tieBreaker: 1n,
      handshake: init,
    });
    t.agent.handleRequest(decodeStunMessage(forged), FROM, 'socket');
    // The genuine check with its handshake attribute altered after the MI was computed.
    const genuine = buildCheck({
      local: t.remote,
      remote: t.local,
      priority: 1,
      role: 'controlled',
      tieBreaker: 1n,
      handshake: init,
    });
    const altered = Uint8Array.from(genuine);
    const at = Buffer.from(altered).indexOf(Buffer.from(init));
    altered[at + 1] = altered[at + 1]! ^ 0xff;
    t.agent.handleRequest(decodeStunMessage(altered), FROM, 'socket');
    expect(t.answered).toHaveLength(0);
    expect(t.sent).toHaveLength(0);
    expect(t.agent.stats.requestsRejected).toBe(2);

    // The genuine one: the session's answer rides in the success response, under its MI.
    t.agent.handleRequest(decodeStunMessage(genuine), FROM, 'socket');
    expect(t.answered.map((d) => Buffer.from(d).toString('hex'))).toEqual(['c1090909']);
    expect(t.sent).toHaveLength(1);
    const res = decodeStunMessage(t.sent[0]!);
    expect(verifyCheckResponse(res, t.local)).toBe(true);
    expect(Buffer.from(responseHandshake(res)!).toString('hex')).toBe('c2010203');
    expect(res.has(ATTR_HANDSHAKE)).toBe(true);
    t.agent.close();
  });

  it('carries 0-RTT data one way and the reply the other; a copy delivers nothing twice', () => {
    const { lo, hi } = pair();
    const t = sessions(lo, hi);
    t.sb.onMessage((m) => t.sb.send(Buffer.from(`re:${Buffer.from(m).toString()}`)));
    t.sa.holdHandshake(2_000);
    expect(t.sa.send(Buffer.from('ping'))).toBe('queued');
    const init = t.sa.initForCheck()!;
    expect(init).toBeDefined();
    expect(t.sa.initForCheck()).toBe(init); // the same bytes on every check
    expect(t.server).toHaveLength(0); // held: nothing went over the server
    const resp = t.sb.answerInCheck(init)!;
    expect(resp).toBeDefined();
    expect(t.got.b).toEqual(['ping']);
    // The same init again (another pair, a retransmitted check): the same answer, no redelivery.
    expect(Buffer.compare(t.sb.answerInCheck(init)!, resp)).toBe(0);
    expect(t.got.b).toEqual(['ping']);
    t.sa.handle(resp);
    expect(t.sa.established).toBe(true);
    expect(t.got.a).toEqual(['re:ping']);
    expect(t.sa.initForCheck()).toBeUndefined();
    // A's confirmation (and its queued copy of "ping") confirm B's keys.
    t.deliver();
    expect(t.sb.established).toBe(true);
  });

  it('an older init replayed after a newer one was accepted is refused with its 0-RTT data', () => {
    const { lo, hi } = pair();
    const t = sessions(hi, lo);
    t.sa.holdHandshake(2_000);
    t.sa.send(Buffer.from('first'));
    const lost = t.sa.initForCheck()!; // the check carrying it is lost
    // The init's retransmission goes over the server: the old flow completes the session.
    t.clock.advance(SESSION_DEFAULTS.handshakeRetransmitMs);
    expect(t.server.length).toBeGreaterThan(0);
    t.deliver();
    expect(t.sa.established && t.sb.established).toBe(true);
    expect(t.got.b).toEqual(['first']);
    const dropped = t.sb.stats.dropped['stale-handshake'] ?? 0;
    expect(t.sb.answerInCheck(lost)).toBeUndefined();
    expect(t.sb.stats.dropped['stale-handshake']).toBe(dropped + 1);
    expect(t.got.b).toEqual(['first']);
  });

  it('a hold that no check takes ends in the server handshake', () => {
    const { lo, hi } = pair();
    const t = sessions(lo, hi);
    t.sa.holdHandshake(2_000);
    t.sa.send(Buffer.from('x'));
    t.clock.advance(1_999);
    expect(t.server).toHaveLength(0);
    t.clock.advance(1);
    t.deliver();
    expect(t.sa.established && t.sb.established).toBe(true);
    expect(t.got.b).toEqual(['x']);
    // releaseHold (the punch ended) does the same at once.
    const u = sessions(lo, hi);
    u.sa.holdHandshake(2_000);
    u.sa.releaseHold();
    u.deliver();
    expect(u.sa.established && u.sb.established).toBe(true);
  });

  it('glare: both sides\u2019 inits in their checks end in one session (the lower id\u2019s)', () => {
    const { lo, hi } = pair();
    const clock = new ManualClock();
    const server: { to: SecureSession; d: Uint8Array }[] = [];
    const mk = (me: Identity, other: Identity, got: string[]): SecureSession => {
      const s: SecureSession = new SecureSession({
        identity: me,
        remotePeerId: other.peerId,
        remotePublicKey: other.publicKey,
        clock,
        send: (d) => server.push({ to: s === sLo ? sHi : sLo, d: Uint8Array.from(d) }),
      });
      s.onMessage((m) => got.push(Buffer.from(m).toString()));
      return s;
    };
    const gotLo: string[] = [];
    const gotHi: string[] = [];
    const sLo: SecureSession = mk(lo, hi, gotLo);
    const sHi: SecureSession = mk(hi, lo, gotHi);
    for (const [s, m] of [
      [sLo, 'from-lo'],
      [sHi, 'from-hi'],
    ] as const) {
      s.holdHandshake(2_000);
      s.send(Buffer.from(m));
    }
    const iLo = sLo.initForCheck()!;
    const iHi = sHi.initForCheck()!;
    // The lower id keeps its own: no answer to the higher's (and its 0-RTT data is not taken).
    expect(sLo.answerInCheck(iHi)).toBeUndefined();
    expect(gotLo).toEqual([]);
    // The higher id abandons its own and answers the lower's.
    const resp = sHi.answerInCheck(iLo)!;
    expect(gotHi).toEqual(['from-lo']);
    expect(sHi.initForCheck()).toBeUndefined();
    sLo.handle(resp);
    while (server.length > 0) {
      const { to, d } = server.shift()!;
      to.handle(d);
    }
    expect(sLo.established && sHi.established).toBe(true);
    expect(sLo.stats.handshakesCompleted).toBe(1);
    expect(sHi.stats.handshakesCompleted).toBe(1);
    // The higher id's payload reached the lower one (in the answer's 0-RTT data, and again on
    // the confirmed keys: payloads stay queued until then; the reliable channel above drops
    // copies by (sender, id)).
    expect(new Set(gotLo)).toEqual(new Set(['from-hi']));
    expect(gotHi.filter((m) => m === 'from-lo').length).toBeGreaterThanOrEqual(1);
  });
});
