/**
 * The primary's bookkeeping of sibling lookups (src/server/workers/sibling-lookups.ts): a worker
 * asks whose allocation a relayed port is; the other workers answer from their registries. The
 * asker must always get exactly one answer — the holder's state, or none once every asked worker
 * said no or died — and the table stays bounded.
 */
import { describe, expect, it } from 'vitest';
import type { SiblingState } from '../../../src/relay/server/siblings.js';
import { SiblingLookups } from '../../../src/server/workers/sibling-lookups.js';

const state: SiblingState = {
  client: { address: '198.51.100.1', port: 5000 },
  expiresAt: 1_000,
  permissions: [],
  channels: [],
};

describe('SiblingLookups', () => {
  it('the first worker that holds the port answers; later answers are ignored', () => {
    const l = new SiblingLookups<string>(8);
    const { key, done } = l.ask('w0', 7, ['w1', 'w2']);
    expect(done).toEqual([]);
    expect(l.answer('w1', key!, state)).toEqual({ asker: 'w0', id: 7, found: ['w1', state] });
    expect(l.answer('w2', key!, undefined)).toBeUndefined();
    expect(l.size).toBe(0);
  });

  it('none once every asked worker said no; not before', () => {
    const l = new SiblingLookups<string>(8);
    const { key } = l.ask('w0', 1, ['w1', 'w2']);
    expect(l.answer('w1', key!, undefined)).toBeUndefined();
    expect(l.answer('w1', key!, undefined)).toBeUndefined(); // twice from one worker: once
    expect(l.answer('w2', key!, undefined)).toEqual({ asker: 'w0', id: 1, found: undefined });
  });

  it('a worker that dies counts as a no; an answer from one not asked is ignored', () => {
    const l = new SiblingLookups<string>(8);
    const a = l.ask('w0', 1, ['w1', 'w2']).key!;
    const b = l.ask('w0', 2, ['w2']).key!;
    expect(l.answer('w3', a, state)).toBeUndefined();
    expect(l.exited('w2')).toEqual([{ asker: 'w0', id: 2, found: undefined }]);
    expect(l.answer('w1', a, undefined)).toEqual({ asker: 'w0', id: 1, found: undefined });
    expect(l.answer('w2', b, state)).toBeUndefined();
    expect(l.size).toBe(0);
  });

  it('with nobody to ask the answer is none at once', () => {
    const l = new SiblingLookups<string>(8);
    expect(l.ask('w0', 3, [])).toEqual({ done: [{ asker: 'w0', id: 3, found: undefined }] });
    expect(l.size).toBe(0);
  });

  it('is bounded: a full table answers its oldest lookup none to make room', () => {
    const l = new SiblingLookups<string>(2);
    const first = l.ask('w0', 1, ['w1']).key!;
    l.ask('w0', 2, ['w1']);
    const third = l.ask('w0', 3, ['w1']);
    expect(third.done).toEqual([{ asker: 'w0', id: 1, found: undefined }]);
    expect(l.size).toBe(2);
    expect(l.answer('w1', first, state)).toBeUndefined();
    expect(() => new SiblingLookups(0)).toThrow(RangeError);
  });
});
