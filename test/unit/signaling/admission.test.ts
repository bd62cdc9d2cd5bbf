import { describe, expect, it } from 'vitest';
import { Admission, apiKeyLabel, mintPeerToken } from '../../../src/signaling/admission.js';
import { ManualClock } from '../../../src/util/clock.js';

const PEER = 'a'.repeat(32);

describe('Admission', () => {
  it('is open without peer tokens', () => {
    const a = new Admission({ clock: new ManualClock(), peerTokens: [], apiKeys: [] });
    expect(a.admitsPeer(PEER, undefined)).toBe(true);
  });

  it('accepts the static token and HMAC tokens for the right peer until they expire', () => {
    const clock = new ManualClock(1_000_000);
    const a = new Admission({ clock, peerTokens: ['s3cret'], apiKeys: [] });
    expect(a.admitsPeer(PEER, 's3cret')).toBe(true);
    expect(a.admitsPeer(PEER, undefined)).toBe(false);
    expect(a.admitsPeer(PEER, 'wrong')).toBe(false);
    const t = mintPeerToken('s3cret', PEER, 2000);
    expect(a.admitsPeer(PEER, t)).toBe(true);
    expect(a.admitsPeer('b'.repeat(32), t)).toBe(false);
    expect(a.admitsPeer(PEER, mintPeerToken('other', PEER, 2000))).toBe(false);
    expect(a.admitsPeer('b'.repeat(32), mintPeerToken('s3cret', '*', 2000))).toBe(true);
    clock.advance(1_000_001);
    expect(a.admitsPeer(PEER, t)).toBe(false);
  });

  it('maps API keys from a Bearer header to a label', () => {
    const a = new Admission({ clock: new ManualClock(), peerTokens: [], apiKeys: ['k1'] });
    expect(a.apiKeyFrom('Bearer k1')).toBe(apiKeyLabel('k1'));
    expect(a.apiKeyFrom('Bearer k2')).toBeUndefined();
    expect(a.apiKeyFrom(undefined)).toBeUndefined();
    expect(a.apiKeyFrom('k1')).toBeUndefined();
  });
});
