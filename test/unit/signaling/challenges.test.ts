import { describe, expect, it } from 'vitest';
import { ChallengeBook } from '../../../src/signaling/challenges.js';
import { generateIdentity, signChallenge } from '../../../src/signaling/identity.js';
import { ManualClock } from '../../../src/util/clock.js';

function setup() {
  const clock = new ManualClock(0);
  const book = new ChallengeBook({ clock, serverId: 'srv', ttlMs: 30_000 });
  const id = generateIdentity();
  return { clock, book, id };
}

describe('ChallengeBook', () => {
  it('accepts a correct signature once, then reports a replay', () => {
    const { book, id } = setup();
    const c = book.issue(id.peerId);
    const sig = signChallenge(id, c);
    expect(() => book.consume(c.nonce, id.peerId, id.publicKey, sig)).not.toThrow();
    expect(() => book.consume(c.nonce, id.peerId, id.publicKey, sig)).toThrow(
      expect.objectContaining({ code: 'NATPUSH_ERR_CHALLENGE_REPLAYED' }),
    );
  });

  it('rejects an expired challenge', () => {
    const { book, id, clock } = setup();
    const c = book.issue(id.peerId);
    clock.advance(30_001);
    expect(() => book.consume(c.nonce, id.peerId, id.publicKey, signChallenge(id, c))).toThrow(
      expect.objectContaining({ code: 'NATPUSH_ERR_CHALLENGE_EXPIRED' }),
    );
  });

  it('rejects a signature by another key, and a key that does not match the peer id', () => {
    const { book, id } = setup();
    const other = generateIdentity();
    const c1 = book.issue(id.peerId);
    expect(() => book.consume(c1.nonce, id.peerId, id.publicKey, signChallenge(other, c1))).toThrow(
      expect.objectContaining({ code: 'NATPUSH_ERR_BAD_SIGNATURE' }),
    );
    const c2 = book.issue(id.peerId);
    expect(() =>
      book.consume(c2.nonce, id.peerId, other.publicKey, signChallenge(other, c2)),
    ).toThrow(expect.objectContaining({ code: 'NATPUSH_ERR_PEER_ID_MISMATCH' }));
  });

  it('stays bounded under a flood of hellos', () => {
    const clock = new ManualClock(0);
    const book = new ChallengeBook({ clock, serverId: 's', ttlMs: 30_000, maxOutstanding: 100 });
    for (let i = 0; i < 1000; i++) book.issue('p');
    expect(book.outstanding).toBe(100);
  });
});
