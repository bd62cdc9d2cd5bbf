/**
 * 0-RTT replay after a responder restart (issue 9). The Noise IK init that rides in a punch's
 * first check carries queued notifications as 0-RTT data; the responder refuses an init whose
 * timestamp is not newer than the last one it accepted — but a restarted responder has forgotten
 * that timestamp. The fix: 0-RTT data is delivered only from an init inside an authenticated
 * check (`answerInCheck`), whose MESSAGE-INTEGRITY is keyed by the one-time ICE password of the
 * responder's current offer — new in every process, so a check recorded before the restart fails
 * it — and never from a bare init datagram (a `p2p` frame, or UDP with a spoofed source).
 *
 * Here: the initiator's init with a notification as 0-RTT data is answered in a check by the
 * responder (delivered once); the responder "restarts" (a new session with the same identity),
 * and the recorded init is replayed to it as a bare datagram. Without the fix the notification
 * was delivered a second time.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { SecureSession } from '../../../src/session/secure-session.js';
import { generateIdentity, type Identity } from '../../../src/signaling/identity.js';
import { ManualClock } from '../../../src/util/clock.js';

const sessions: SecureSession[] = [];
afterEach(() => {
  for (const s of sessions.splice(0)) s.close();
});

function session(clock: ManualClock, me: Identity, other: Identity, key?: string) {
  const got: string[] = [];
  const sent: Uint8Array[] = [];
  const s = new SecureSession({
    identity: me,
    remotePeerId: other.peerId,
    ...(key ? { remotePublicKey: key } : {}),
    clock,
    send: (d) => sent.push(Uint8Array.from(d)),
  });
  s.onMessage((m) => got.push(Buffer.from(m).toString()));
  sessions.push(s);
  return { s, got, sent };
}

describe('0-RTT data and a restarted responder', () => {
  it('an init recorded before the restart delivers nothing again', () => {
    const clock = new ManualClock();
    const [ia, ib] = [generateIdentity(), generateIdentity()];
    const a = session(clock, ia, ib, ib.publicKey);
    // The punch is on its way: the handshake waits for the first check, the notification queues.
    a.s.holdHandshake(1_000);
    expect(a.s.send(Buffer.from('notification 1'))).toBe('queued');
    const init = a.s.initForCheck()!;
    expect(init).toBeDefined();

    // First boot: the init arrives in an authenticated check; its 0-RTT data is delivered once.
    const b1 = session(clock, ib, ia);
    expect(b1.s.answerInCheck(init)).toBeDefined();
    expect(b1.got).toEqual(['notification 1']);
    // A replay within the same boot is refused by the init's timestamp.
    expect(b1.s.handle(init)).toEqual({ ok: false, reason: 'stale-handshake' });
    expect(b1.got).toEqual(['notification 1']);

    // The responder restarts: it has forgotten the last timestamp. The recorded init, replayed
    // as a bare datagram, must not deliver the notification again.
    clock.advance(60_000);
    const b2 = session(clock, ib, ia);
    b2.s.handle(init);
    expect(b2.got).toEqual([]);
    expect(b2.s.stats.dropped['early-data-outside-check']).toBe(1);
  });

  it('a genuine first contact still delivers its 0-RTT data in the check, and once', () => {
    const clock = new ManualClock();
    const [ia, ib] = [generateIdentity(), generateIdentity()];
    const a = session(clock, ia, ib, ib.publicKey);
    a.s.holdHandshake(1_000);
    a.s.send(Buffer.from('ping'));
    const b = session(clock, ib, ia);
    b.s.onMessage(() => b.s.send(Buffer.from('pong'))); // answered in the check's response
    const answer = b.s.answerInCheck(a.s.initForCheck()!)!;
    expect(b.got).toEqual(['ping']);
    a.s.handle(answer);
    expect(a.got).toEqual(['pong']);
    // The initiator confirms on the new keys with its queue (the ping again): the responder's
    // session delivers it, and the reliable channel above drops the copy by id.
    for (const d of a.sent.splice(0)) b.s.handle(d);
    expect(a.s.established && b.s.established).toBe(true);
  });
});
