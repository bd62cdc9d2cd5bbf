/**
 * Contacts (contacts.ts) under repeated notes of one peer, as a flood makes them: `note` says the
 * list changed only when it did, the most recent stays last (the oldest is forgotten first),
 * and a refused id stays refused however often it is noted.
 */
import { describe, expect, it } from 'vitest';
import { Contacts, MAX_ALLOWED_PEERS } from '../../../src/peer/contacts.js';
import { generateIdentity } from '../../../src/signaling/identity.js';

const ids = Array.from({ length: 3 }, () => generateIdentity().peerId);
const [a, b, c] = ids as [string, string, string];

describe('Contacts.note', () => {
  it('changes the list once per new peer, however often a peer is noted in a row', () => {
    const k = new Contacts();
    expect(k.note(a)).toBe(true);
    expect(k.note(a)).toBe(false);
    expect(k.note(a)).toBe(false);
    expect(k.note(b)).toBe(true);
    expect(k.note(b)).toBe(false);
    expect(k.note(a)).toBe(false); // known: recency refreshed, the list is the same
    expect(k.frame().peers).toEqual([b, a]);
    expect(k.note(c)).toBe(true);
    expect(k.frame().peers).toEqual([b, a, c]);
  });

  it('refuses what is not a peer id, every time', () => {
    const k = new Contacts();
    for (let i = 0; i < 3; i++) expect(k.note('not a peer id')).toBe(false);
    expect(k.allows('not a peer id')).toBe(false);
    expect(k.frame().peers).toEqual([]);
  });

  it('forgets the least recently noted first, a peer noted again in a row included', () => {
    const k = new Contacts();
    const many = Array.from({ length: MAX_ALLOWED_PEERS }, () => generateIdentity().peerId);
    for (const p of many) k.note(p);
    k.note(many[0]!); // the oldest becomes the newest
    k.note(many[0]!); // again in a row: still the newest
    expect(k.note(a)).toBe(true); // full: the oldest now is many[1]
    expect(k.allows(many[0]!)).toBe(true);
    expect(k.allows(many[1]!)).toBe(false);
    expect(k.frame().peers.at(-1)).toBe(a);
  });

  it("'anyone' and an explicit list never change", () => {
    const any = new Contacts('anyone');
    const list = new Contacts([a]);
    for (let i = 0; i < 2; i++) {
      expect(any.note(b)).toBe(false);
      expect(list.note(b)).toBe(false);
    }
    expect(list.allows(b)).toBe(false);
    expect(list.frame().peers).toEqual([a]);
  });
});
