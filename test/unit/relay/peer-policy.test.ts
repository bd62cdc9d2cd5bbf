import { describe, expect, it } from 'vitest';
import { PeerPolicy } from '../../../src/relay/peer-policy.js';

describe('peer-address policy (RFC 8656 §21.1.5: never an open relay into local networks)', () => {
  const p = new PeerPolicy({ ownAddresses: ['203.0.113.1'] });

  it.each([
    ['0.0.0.0', 'denied-range'],
    ['127.0.0.1', 'denied-range'],
    ['10.1.2.3', 'denied-range'],
    ['172.16.0.1', 'denied-range'],
    ['172.31.255.255', 'denied-range'],
    ['192.168.1.1', 'denied-range'],
    ['100.64.0.1', 'denied-range'],
    ['100.127.255.255', 'denied-range'],
    ['169.254.1.1', 'denied-range'],
    ['224.0.0.1', 'denied-range'],
    ['255.255.255.255', 'denied-range'],
    ['::', 'denied-range'],
    ['::1', 'denied-range'],
    ['fd00::1', 'denied-range'],
    ['fe80::1', 'denied-range'],
    ['ff02::1', 'denied-range'],
    ['::ffff:127.0.0.1', 'denied-range'],
    ['::ffff:10.0.0.1', 'denied-range'],
    ['203.0.113.1', 'own-address'],
    ['::ffff:203.0.113.1', 'own-address'],
    ['203.0.113.2', 'allowed'],
    ['198.51.100.7', 'allowed'],
    ['172.32.0.1', 'allowed'],
    ['100.128.0.1', 'allowed'],
    ['2001:db8::1', 'allowed'],
    ['not-an-ip', 'invalid'],
  ])('%s → %s', (addr, verdict) => {
    expect(p.check(addr)).toBe(verdict);
  });

  it('an allow-list opens a range for labs; deny adds ranges', () => {
    const lab = new PeerPolicy({
      allow: ['127.0.0.0/8', '10.9.0.0/16'],
      deny: ['198.51.100.0/24'],
    });
    expect(lab.check('127.0.0.1')).toBe('allowed');
    expect(lab.check('10.9.1.1')).toBe('allowed');
    expect(lab.check('10.8.1.1')).toBe('denied-range');
    expect(lab.check('198.51.100.7')).toBe('denied-range');
  });

  it('rejects malformed CIDRs at construction', () => {
    expect(() => new PeerPolicy({ allow: ['10.0.0.0/33'] })).toThrow(TypeError);
    expect(() => new PeerPolicy({ allow: ['nope/8'] })).toThrow(TypeError);
  });
});
