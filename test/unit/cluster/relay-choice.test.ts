import { describe, expect, it } from 'vitest';
import { chooseRelay, DecayingCount } from '../../../src/cluster/relay-choice.js';
import {
  decodeRelayRecord,
  encodeRelayRecord,
  turnServerKey,
  udpFirst,
} from '../../../src/cluster/relay-record.js';

const r = (id: string, score: number, region?: string) => ({ id, score, region });

describe('chooseRelay', () => {
  it.each([
    ['lowest score wins', [r('a', 5), r('b', 2), r('c', 9)], {}, 'b'],
    [
      'same region preferred over a lower score',
      [r('a', 1, 'us'), r('b', 7, 'eu')],
      { region: 'eu' },
      'b',
    ],
    [
      'no relay of the region: all are considered',
      [r('a', 3, 'us'), r('b', 1, 'us')],
      { region: 'eu' },
      'b',
    ],
    ['the relay a re-asking peer had is avoided', [r('a', 0), r('b', 9)], { avoid: 'a' }, 'b'],
    ['avoided but alone: handed again', [r('a', 0)], { avoid: 'a' }, 'a'],
    [
      'region first, then avoid within it',
      [r('a', 0, 'eu'), r('b', 4, 'eu'), r('c', 0, 'us')],
      { region: 'eu', avoid: 'a' },
      'b',
    ],
  ])('%s', (_, cands, o, want) => {
    expect(chooseRelay(cands, { turn: 0, ...o })?.id).toBe(want);
  });

  it('none in rotation: undefined', () => {
    expect(chooseRelay([], { turn: 3 })).toBeUndefined();
  });

  it('ties go round robin', () => {
    const c = [r('a', 1), r('b', 1), r('c', 2)];
    expect([0, 1, 2, 3].map((turn) => chooseRelay(c, { turn })?.id)).toEqual(['a', 'b', 'a', 'b']);
  });
});

describe('DecayingCount', () => {
  it('adds, and decays as e^(-t/tau)', () => {
    const d = new DecayingCount(1_000);
    d.add(0);
    d.add(0);
    expect(d.value(0)).toBe(2);
    expect(d.value(1_000)).toBeCloseTo(2 / Math.E, 9);
    d.add(1_000);
    expect(d.value(1_000)).toBeCloseTo(1 + 2 / Math.E, 9);
  });
  it('settles at rate × tau', () => {
    const d = new DecayingCount(2_000);
    for (let t = 0; t < 60_000; t += 10) d.add(t); // 100/s
    expect(d.value(60_000)).toBeGreaterThan(190);
    expect(d.value(60_000)).toBeLessThan(210);
  });
  it('refuses a tau that is not positive', () => {
    expect(() => new DecayingCount(0)).toThrow(RangeError);
  });
});

describe('relay records', () => {
  const rec = {
    id: 'relay-1',
    urls: ['turn:10.0.0.1:3478?transport=udp', 'turn:10.0.0.1:3478?transport=tcp'],
    region: 'eu-west',
    allocations: 12,
    pps: 340,
    at: 1,
  };
  it('round-trips', () => {
    expect(decodeRelayRecord(encodeRelayRecord(rec))).toEqual(rec);
  });
  it.each([
    ['not JSON', '{'],
    ['no urls', JSON.stringify({ ...rec, urls: [] })],
    ['five urls', JSON.stringify({ ...rec, urls: Array(5).fill(rec.urls[0]) })],
    ['an http url', JSON.stringify({ ...rec, urls: ['http://x'] })],
    ['negative load', JSON.stringify({ ...rec, allocations: -1 })],
    ['a region with spaces', JSON.stringify({ ...rec, region: 'eu west' })],
    ['a bad id', JSON.stringify({ ...rec, id: 'a b' })],
  ])('ignores a record with %s', (_, raw) => {
    expect(decodeRelayRecord(raw)).toBeUndefined();
  });
  it('refuses to encode what it would not decode', () => {
    expect(() => encodeRelayRecord({ ...rec, urls: ['stun:x:1'] })).toThrow(TypeError);
  });
  it('groups URLs by server and puts UDP first', () => {
    expect(turnServerKey('turn:[::1]:3478?transport=tcp')).toBe('[::1]:3478');
    expect(udpFirst(['turn:a:1?transport=tcp', 'turns:a:2', 'turn:a:1?transport=udp'])).toEqual([
      'turn:a:1?transport=udp',
      'turn:a:1?transport=tcp',
      'turns:a:2',
    ]);
  });
});
