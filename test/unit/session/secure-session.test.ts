import { describe, expect, it } from 'vitest';
import { generateIdentity, type Identity } from '../../../src/signaling/identity.js';
import { SecureSession, type SecureSessionOptions } from '../../../src/session/secure-session.js';
import { isSessionDatagram, peekReceiverIndex } from '../../../src/session/wire.js';
import { ManualClock } from '../../../src/util/clock.js';
import { LossyPipe, type PipeOptions } from './lossy-pipe.js';

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

/** Two identities ordered so that `low` has the lower peer id (the tie-break winner). */
function pair(): { low: Identity; high: Identity } {
  const a = generateIdentity();
  const b = generateIdentity();
  return a.peerId < b.peerId ? { low: a, high: b } : { low: b, high: a };
}

function setup(
  o: {
    pipe?: PipeOptions;
    timers?: SecureSessionOptions['timers'];
    bKnowsA?: boolean;
    ids?: { a: Identity; b: Identity };
  } = {},
) {
  const clock = new ManualClock();
  const ids = o.ids ?? { a: generateIdentity(), b: generateIdentity() };
  // Late-bound so the pipes can be created before the sessions they deliver to.
  const box: { a?: SecureSession; b?: SecureSession } = {};
  const ab = new LossyPipe(clock, (d) => box.b!.handle(d), { ...o.pipe, seed: 11 });
  const ba = new LossyPipe(clock, (d) => box.a!.handle(d), { ...o.pipe, seed: 22 });
  const a = new SecureSession({
    identity: ids.a,
    remotePeerId: ids.b.peerId,
    remotePublicKey: ids.b.publicKey,
    clock,
    send: ab.send,
    timers: o.timers,
  });
  const b = new SecureSession({
    identity: ids.b,
    remotePeerId: ids.a.peerId,
    remotePublicKey: o.bKnowsA === false ? undefined : ids.a.publicKey,
    clock,
    send: ba.send,
    timers: o.timers,
  });
  box.a = a;
  box.b = b;
  const gotA: string[] = [];
  const gotB: string[] = [];
  a.onMessage((p) => gotA.push(dec(p)));
  b.onMessage((p) => gotB.push(dec(p)));
  return { clock, ids, a, b, ab, ba, gotA, gotB };
}

describe('SecureSession handshake', () => {
  it('A initiates; B learns A’s key from the handshake; data flows both ways', () => {
    const t = setup({ bKnowsA: false });
    t.a.send(enc('queued before the handshake'));
    expect(t.a.state).toBe('handshaking');
    t.clock.advance(100);
    expect(t.a.established).toBe(true);
    expect(t.b.established).toBe(true);
    expect(t.b.remotePublicKey).toBe(t.ids.a.publicKey);
    t.b.send(enc('pong'));
    t.a.send(enc('ping'));
    t.clock.advance(100);
    expect(t.gotB).toEqual(['queued before the handshake', 'ping']);
    expect(t.gotA).toEqual(['pong']);
    expect(t.a.stats.handshakesInitiated).toBe(1);
    expect(t.b.stats.dropped).toEqual({});
  });

  it('B initiates the other way', () => {
    const t = setup();
    t.b.connect();
    t.clock.advance(100);
    t.a.send(enc('x'));
    t.clock.advance(100);
    expect(t.gotB).toEqual(['x']);
  });

  it('every datagram is in the 0xC0–0xCF range with version 1, and carries no plaintext', () => {
    const t = setup();
    const seen: Uint8Array[] = [];
    t.ab.taps.push((d) => seen.push(d));
    t.ba.taps.push((d) => seen.push(d));
    t.a.send(enc('secret notification body'));
    t.clock.advance(100);
    expect(seen.length).toBeGreaterThanOrEqual(3);
    for (const d of seen) {
      expect(isSessionDatagram(d)).toBe(true);
      expect(d[1]).toBe(1);
      expect(Buffer.from(d).includes(Buffer.from('secret'))).toBe(false);
    }
    expect(t.gotB).toEqual(['secret notification body']);
  });

  it('simultaneous open: the lower peer id’s handshake wins, both end on the same keys', () => {
    const { low, high } = pair();
    for (const ids of [
      { a: low, b: high },
      { a: high, b: low },
    ]) {
      const t = setup({ ids });
      t.a.connect();
      t.b.connect();
      t.clock.advance(100);
      expect(t.a.established && t.b.established).toBe(true);
      const lowSide = ids.a === low ? t.a : t.b;
      const highSide = ids.a === low ? t.b : t.a;
      expect(highSide.stats.dropped['lost-tie-break'] ?? 0).toBe(0);
      expect(lowSide.stats.dropped['lost-tie-break']).toBe(1);
      t.a.send(enc('from a'));
      t.b.send(enc('from b'));
      t.clock.advance(100);
      expect(t.gotB).toEqual(['from a']);
      expect(t.gotA).toEqual(['from b']);
      // Exactly one keypair each (the winner's handshake).
      expect(t.a.stats.handshakesCompleted).toBe(1);
      expect(t.b.stats.handshakesCompleted).toBe(1);
    }
  });

  it('retransmits a lost init on the clock and times out with a typed error', () => {
    const t = setup();
    let inits = 0;
    t.ab.dropIf = (d) => d[0] === 0xc1 && ++inits <= 2;
    t.a.send(enc('late'));
    t.clock.advance(1_000 + 50); // first retransmission at 1 s: lost too
    expect(t.a.established).toBe(false);
    t.clock.advance(2_000); // second at +2 s arrives
    expect(t.a.established).toBe(true);
    t.clock.advance(100);
    expect(t.gotB).toEqual(['late']);

    const u = setup();
    const errors: string[] = [];
    u.a.onError((e) => errors.push(e.code));
    u.ab.cut = true;
    u.a.send(enc('never'));
    u.clock.advance(60_000);
    expect(errors).toEqual(['NATPUSH_ERR_SESSION_HANDSHAKE_TIMEOUT']);
    expect(u.a.stats.handshakesInitiated).toBeGreaterThanOrEqual(5);
    expect(u.clock.pending).toBe(0);
  });

  it('the responder retries itself when the initiator’s confirmation is lost', () => {
    const t = setup();
    // Drop A's first transport datagram (the empty confirmation).
    let dropped = false;
    t.ab.dropIf = (d) => d[0] === 0xc3 && !dropped && (dropped = true);
    t.a.connect();
    t.clock.advance(100);
    expect(t.a.established).toBe(true);
    expect(t.b.established).toBe(false);
    t.b.send(enc('b waits for confirmation'));
    t.clock.advance(3_000);
    expect(t.b.established).toBe(true);
    expect(t.gotA).toEqual(['b waits for confirmation']);
  });

  it('the responder retries itself when the confirmation is lost, even with nothing to send', () => {
    const t = setup();
    let dropped = false;
    t.ab.dropIf = (d) => d[0] === 0xc3 && !dropped && (dropped = true);
    t.a.connect();
    t.clock.advance(100);
    expect([t.a.established, t.b.established]).toEqual([true, false]);
    // Nothing queued on either side: B's own handshake after confirmTimeoutMs establishes it.
    t.clock.advance(3_000);
    expect(t.b.established).toBe(true);
    t.a.send(enc('after'));
    t.b.send(enc('both ways'));
    t.clock.advance(100);
    expect([t.gotA, t.gotB]).toEqual([['both ways'], ['after']]);
  });
});

describe('SecureSession handshake crossings', () => {
  it('an answer to an earlier init still completes the handshake, and the responder accepts it', () => {
    const t = setup();
    // Hold back B's first answer; lose its second. A completes with the first, late.
    const held: Uint8Array[] = [];
    let resps = 0;
    t.ba.dropIf = (d) => {
      if (d[0] !== 0xc2) return false;
      resps++;
      if (resps === 1) held.push(d);
      return true;
    };
    t.a.send(enc('first'));
    t.clock.advance(1_100); // A's retransmitted init is answered (answer lost)
    expect(resps).toBe(2);
    expect(t.a.established).toBe(false);
    expect(t.a.handle(held[0]!)).toEqual({ ok: true, kind: 'handshake-resp' });
    expect(t.a.established).toBe(true);
    t.clock.advance(100);
    // B held two unconfirmed answers; A's data on the older one confirmed it.
    expect(t.b.established).toBe(true);
    expect(t.gotB).toEqual(['first']);
    t.b.send(enc('back'));
    t.clock.advance(100);
    expect(t.gotA).toEqual(['back']);
    expect(t.b.stats.dropped).toEqual({});
  });
});

describe('SecureSession against a third party', () => {
  it('replayed, tampered and injected datagrams are dropped and never delivered', () => {
    const t = setup();
    const captured: Uint8Array[] = [];
    t.ab.taps.push((d) => captured.push(d));
    t.a.send(enc('one'));
    t.a.send(enc('two'));
    t.clock.advance(100);
    expect(t.gotB).toEqual(['one', 'two']);

    // Replay everything A sent, including the handshake-init.
    const replayed = captured.map((d) => t.b.handle(d));
    expect(replayed.every((r) => !r.ok)).toBe(true);
    expect(new Set(replayed.map((r) => (r.ok ? 'ok' : r.reason)))).toEqual(
      new Set(['stale-handshake', 'replayed']),
    );

    // Flip each bit of a transport datagram.
    const data = captured.find((d) => d[0] === 0xc3 && d.length > 30)!;
    for (let bit = 0; bit < data.length * 8; bit++) {
      const bad = Uint8Array.from(data);
      bad[bit >> 3]! ^= 1 << (bit & 7);
      expect(t.b.handle(bad).ok, `bit ${bit}`).toBe(false);
    }

    // Mallory knows both peer ids and keys (public) but not the private keys.
    const mallory = generateIdentity();
    const spoof = new SecureSession({
      identity: mallory,
      remotePeerId: t.ids.b.peerId,
      remotePublicKey: t.ids.b.publicKey,
      clock: t.clock,
      send: (d) => expect(t.b.handle(d)).toEqual({ ok: false, reason: 'wrong-peer' }),
    });
    spoof.connect();
    // A forged transport datagram on the live index with a fresh counter.
    const forged = Uint8Array.from(data);
    Buffer.from(forged.buffer).writeUInt32LE(1000, 6);
    expect(t.b.handle(forged)).toEqual({ ok: false, reason: 'decrypt' });
    // Junk of the right kind and length.
    expect(
      t.b.handle(Uint8Array.from({ length: 142 }, (_, i) => (i === 0 ? 0xc1 : i === 1 ? 1 : i))).ok,
    ).toBe(false);
    expect(t.b.handle(Uint8Array.of(0xc9, 1, 0, 0)).ok).toBe(false);
    expect(t.b.handle(Uint8Array.of(0xc3, 2, 0, 0)).ok).toBe(false);

    t.clock.advance(10_000);
    expect(t.gotB).toEqual(['one', 'two']);
    // The genuine session still works.
    t.a.send(enc('three'));
    t.clock.advance(100);
    expect(t.gotB).toEqual(['one', 'two', 'three']);
    spoof.close();
  });

  it('a flood of inits is rate limited', () => {
    const t = setup();
    const junk = Uint8Array.from({ length: 142 }, (_, i) => (i === 0 ? 0xc1 : i === 1 ? 1 : 7));
    const results = Array.from({ length: 50 }, () => t.b.handle(junk));
    expect(results.filter((r) => !r.ok && r.reason === 'rate-limited').length).toBe(40);
  });

  it('peekReceiverIndex routes transport datagrams to the session that owns them', () => {
    const t = setup();
    const seen: Uint8Array[] = [];
    t.ab.taps.push((d) => seen.push(d));
    t.a.send(enc('x'));
    t.clock.advance(100);
    const transport = seen.filter((d) => d[0] === 0xc3);
    expect(transport.length).toBeGreaterThan(0);
    for (const d of transport) expect(t.b.ownsIndex(peekReceiverIndex(d)!)).toBe(true);
  });
});

describe('SecureSession rekey, expiry and path swap', () => {
  it('rekeys after a message count mid-stream without losing anything', () => {
    const t = setup({ timers: { rekeyAfterMessages: 10 } });
    for (let i = 0; i < 60; i++) {
      t.a.send(enc(`a${i}`));
      t.b.send(enc(`b${i}`));
      t.clock.advance(7);
    }
    t.clock.advance(500);
    expect(t.a.stats.handshakesCompleted).toBeGreaterThanOrEqual(4);
    // Messages sent while a rekey was in flight are still delivered (previous keys kept).
    expect(t.gotB).toEqual(Array.from({ length: 60 }, (_, i) => `a${i}`));
    expect(t.gotA.length).toBe(60);
    expect(new Set(t.gotA).size).toBe(60);
  });

  it('rekeys after time, and refuses keys older than rejectAfterMs', () => {
    const t = setup();
    t.a.send(enc('first'));
    t.clock.advance(100);
    t.clock.advance(121_000);
    t.a.send(enc('after 2 min'));
    t.clock.advance(100);
    expect(t.a.stats.handshakesCompleted).toBe(2);
    // B answered; after expiry it must handshake again before sending.
    t.clock.advance(181_000);
    expect(t.b.established).toBe(false);
    t.b.send(enc('after expiry'));
    t.clock.advance(200);
    expect(t.gotB).toEqual(['first', 'after 2 min']);
    expect(t.gotA).toEqual(['after expiry']);
  });

  it('keepalives every 25 s keep the keys fresh through rekeys, forever', () => {
    const t = setup();
    t.a.connect();
    t.clock.advance(100);
    let got = 0;
    t.b.onMessage(() => got++);
    for (let s = 0; s < 600; s += 25) {
      t.a.keepalive();
      t.b.keepalive();
      t.clock.advance(25_000);
    }
    expect(t.a.established && t.b.established).toBe(true);
    expect(t.a.stats.handshakesCompleted).toBeGreaterThanOrEqual(4);
    expect(got).toBe(0); // keepalives are not messages
    t.a.send(enc('still here'));
    t.clock.advance(100);
    expect(t.gotB).toEqual(['still here']);
  });

  it('swapping the send path mid-stream keeps keys and counters', () => {
    const t = setup();
    const relay = new LossyPipe(t.clock, (d) => t.b.handle(d), { delayMs: 40 });
    for (let i = 0; i < 20; i++) {
      if (i === 10) t.a.setSend(relay.send);
      t.a.send(enc(`m${i}`));
      t.clock.advance(3);
    }
    t.clock.advance(100);
    expect(relay.delivered).toBe(10);
    expect(t.gotB.length).toBe(20);
    expect(t.b.stats.dropped).toEqual({});
  });

  it('close() cancels timers and refuses further use', () => {
    const t = setup();
    t.ab.cut = true;
    t.a.send(enc('x'));
    t.a.close();
    expect(t.clock.pending).toBe(0);
    expect(() => t.a.send(enc('y'))).toThrow(/closed/);
    expect(t.a.handle(Uint8Array.of(0xc3, 1))).toEqual({ ok: false, reason: 'closed' });
  });
});
