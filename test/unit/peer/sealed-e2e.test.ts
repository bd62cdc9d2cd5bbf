import { describe, expect, it } from 'vitest';
import { Contacts } from '../../../src/peer/contacts.js';
import { KeyDirectory } from '../../../src/peer/key-directory.js';
import {
  decodeEnvelope,
  encodeEnvelope,
  maxSealedBodyBytes,
  openBody,
  sealBody,
} from '../../../src/peer/sealed-body.js';
import { MAX_SEALED_PLAINTEXT } from '../../../src/session/sealed.js';
import { LIMITS } from '../../../src/signaling/constants.js';
import { generateIdentity } from '../../../src/signaling/identity.js';
import { ManualClock } from '../../../src/util/clock.js';

const alice = generateIdentity();
const bob = generateIdentity();
const mallory = generateIdentity();

describe('sealed notification bodies', () => {
  it('round-trip: topic and body only inside, the sender authenticated', () => {
    const wire = sealBody(alice, bob.publicKey, { id: 'n-1', topic: 'ci ✓', body: 'héllo' });
    expect(wire.startsWith('np1.')).toBe(true);
    // Long markers: random ciphertext never holds them by chance (a 2-byte one could).
    const marked = sealBody(alice, bob.publicKey, {
      id: 'n-2',
      topic: 'topic-that-must-stay-inside',
      body: 'body-that-must-stay-inside',
    });
    const bytes = Buffer.from(marked.slice(4), 'base64url').toString('latin1');
    expect(marked).not.toContain('body-that-must-stay-inside');
    expect(bytes).not.toContain('body-that-must-stay-inside');
    expect(bytes).not.toContain('topic-that-must-stay-inside');
    const o = openBody(bob, wire);
    expect(o).toMatchObject({
      id: 'n-1',
      topic: 'ci ✓',
      body: 'héllo',
      senderPeerId: alice.peerId,
    });
  });

  it('only the recipient opens it; tampering fails', () => {
    const wire = sealBody(alice, bob.publicKey, { id: 'n', body: 'secret' });
    expect(() => openBody(mallory, wire)).toThrow(/NATPUSH_ERR_SESSION|decrypt|authentication/i);
    const raw = Buffer.from(wire.slice(4), 'base64url');
    raw[raw.length - 1]! ^= 1;
    expect(() => openBody(bob, 'np1.' + raw.toString('base64url'))).toThrow();
    expect(() => openBody(bob, 'plain text')).toThrow(TypeError);
  });

  it('a full 16 KiB plaintext fits the 24 KiB peer body limit', () => {
    const id = 'x'.repeat(64);
    const body = 'b'.repeat(maxSealedBodyBytes(id, 't'.repeat(128)));
    const wire = sealBody(alice, bob.publicKey, { id, topic: 't'.repeat(128), body });
    expect(Buffer.byteLength(wire)).toBeLessThanOrEqual(LIMITS.maxSealedBodyBytes);
    expect(() =>
      sealBody(alice, bob.publicKey, { id, topic: 't'.repeat(128), body: body + 'b' }),
    ).toThrow(RangeError);
    expect(encodeEnvelope({ id, topic: 't'.repeat(128), body }).length).toBe(MAX_SEALED_PLAINTEXT);
  });

  it('envelope decoder rejects truncation', () => {
    const e = encodeEnvelope({ id: 'abc', topic: 'tt', body: 'x' });
    expect(decodeEnvelope(e)).toEqual({ id: 'abc', topic: 'tt', body: 'x' });
    expect(() => decodeEnvelope(e.subarray(0, 6))).toThrow(TypeError);
    expect(() => decodeEnvelope(Buffer.from([2, 0, 0, 0]))).toThrow(TypeError);
  });
});

describe('KeyDirectory', () => {
  it('accepts only a key that hashes to the peer id; caches; one request for many waiters', async () => {
    const clock = new ManualClock();
    const sent: { ref: string; peer: string }[] = [];
    const d = new KeyDirectory({ clock, request: (ref, peer) => (sent.push({ ref, peer }), true) });
    const a = d.get(bob.peerId);
    const b = d.get(bob.peerId);
    expect(sent).toHaveLength(1);
    // a lying server answers mallory's key for bob: refused
    expect(d.answer(sent[0]!.ref, bob.peerId, mallory.publicKey)).toBe(false);
    await expect(a).rejects.toMatchObject({ code: 'NATPUSH_ERR_PEER_ID_MISMATCH' });
    await expect(b).rejects.toMatchObject({ code: 'NATPUSH_ERR_PEER_ID_MISMATCH' });
    expect(d.mismatches).toBe(1);
    const c = d.get(bob.peerId);
    expect(d.answer(sent[1]!.ref, bob.peerId, bob.publicKey)).toBe(true);
    await expect(c).resolves.toBe(bob.publicKey);
    await expect(d.get(bob.peerId)).resolves.toBe(bob.publicKey);
    expect(sent).toHaveLength(2);
  });

  it('times out, is bounded, and resends after a reconnect', async () => {
    const clock = new ManualClock();
    const sent: string[] = [];
    const d = new KeyDirectory({
      clock,
      request: (ref) => (sent.push(ref), true),
      maxPending: 2,
      capacity: 1,
      timeoutMs: 100,
    });
    const x = d.get(alice.peerId);
    const y = d.get(bob.peerId);
    await expect(d.get(mallory.peerId)).rejects.toMatchObject({ code: 'NATPUSH_ERR_RATE_LIMITED' });
    d.resend();
    expect(sent).toHaveLength(4);
    clock.advance(100);
    await expect(x).rejects.toMatchObject({ code: 'NATPUSH_ERR_REQUEST_TIMEOUT' });
    await expect(y).rejects.toMatchObject({ code: 'NATPUSH_ERR_REQUEST_TIMEOUT' });
    d.learn(alice.peerId, alice.publicKey);
    d.learn(bob.peerId, bob.publicKey); // capacity 1: alice forgotten
    expect(d.cached(alice.peerId)).toBeUndefined();
    expect(d.cached(bob.peerId)).toBe(bob.publicKey);
    d.learn(alice.peerId, mallory.publicKey); // not alice's: ignored
    expect(d.cached(alice.peerId)).toBeUndefined();
  });
});

describe('Contacts (allow frame)', () => {
  it('default: peers noted, bounded to LIMITS.maxAllowedPeers, oldest forgotten', () => {
    const c = new Contacts();
    expect(c.frame()).toEqual({ type: 'allow', peers: [], anyone: false });
    expect(c.note(bob.peerId)).toBe(true);
    expect(c.note(bob.peerId)).toBe(false);
    expect(c.allows(bob.peerId)).toBe(true);
    expect(c.allows(mallory.peerId)).toBe(false);
    for (let i = 0; i < LIMITS.maxAllowedPeers; i++) c.note(generateIdentity().peerId);
    expect(c.frame().peers).toHaveLength(LIMITS.maxAllowedPeers);
    expect(c.allows(bob.peerId)).toBe(false);
  });

  it("'anyone' and explicit lists do not grow", () => {
    const any = new Contacts('anyone');
    expect(any.note(bob.peerId)).toBe(false);
    expect(any.frame()).toEqual({ type: 'allow', peers: [], anyone: true });
    expect(any.allows(mallory.peerId)).toBe(true);
    const list = new Contacts([bob.peerId]);
    expect(list.note(mallory.peerId)).toBe(false);
    expect(list.frame()).toEqual({ type: 'allow', peers: [bob.peerId], anyone: false });
    expect(() => new Contacts(['nope'])).toThrow(TypeError);
  });
});
