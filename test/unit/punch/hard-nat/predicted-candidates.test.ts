import { describe, expect, it } from 'vitest';
import { candidatePriority, type Candidate } from '../../../../src/punch/candidates.js';
import {
  PREDICTION_WINDOW,
  predictedCandidates,
  predictedPriority,
} from '../../../../src/punch/predicted-candidates.js';

const host: Candidate = {
  type: 'host',
  address: '10.0.0.2',
  port: 40001,
  priority: candidatePriority('host'),
};
const srflx = (port: number): Candidate => ({
  type: 'srflx',
  address: '198.51.100.7',
  port,
  priority: candidatePriority('srflx'),
});

describe('predictedCandidates', () => {
  it('sequential: the next ports after the last mapping the NAT made, on the srflx address', () => {
    const cs = predictedCandidates({
      pattern: { kind: 'sequential', delta: 1 },
      samplePorts: [40001, 40002, 40003, 40004],
      gathered: [host, srflx(40000)],
    });
    expect(cs.map((c) => c.port)).toEqual([40005, 40006, 40007, 40008]);
    expect(cs).toHaveLength(PREDICTION_WINDOW);
    expect(cs.every((c) => c.type === 'srflx' && c.address === '198.51.100.7')).toBe(true);
  });

  it('the socket mapping made after the samples is the last one', () => {
    const cs = predictedCandidates({
      pattern: { kind: 'sequential', delta: 2 },
      samplePorts: [40000, 40002, 40004, 40006],
      gathered: [srflx(40008)],
      window: 2,
    });
    expect(cs.map((c) => c.port)).toEqual([40010, 40012]);
  });

  it('a negative delta counts down from the lowest', () => {
    const cs = predictedCandidates({
      pattern: { kind: 'sequential', delta: -1 },
      samplePorts: [50003, 50002, 50001, 50000],
      gathered: [srflx(50004)],
      window: 2,
    });
    expect(cs.map((c) => c.port)).toEqual([49999, 49998]);
  });

  it('ranks above every host candidate, first prediction first, so they are the first checks', () => {
    const cs = predictedCandidates({
      pattern: { kind: 'sequential', delta: 1 },
      samplePorts: [1, 2, 3],
      gathered: [srflx(4)],
    });
    const prios = cs.map((c) => c.priority);
    expect([...prios].sort((a, b) => b - a)).toEqual(prios);
    expect(Math.min(...prios)).toBeGreaterThan(candidatePriority('host', 65535));
    expect(Math.max(...prios)).toBeLessThanOrEqual(2 ** 31 - 1);
    expect(() => predictedPriority(256)).toThrow(RangeError);
  });

  it('nothing for preserving or random allocation, or without a srflx candidate', () => {
    for (const pattern of [{ kind: 'preserving' }, { kind: 'random' }] as const) {
      expect(
        predictedCandidates({ pattern, samplePorts: [1, 2, 3], gathered: [srflx(4)] }),
      ).toEqual([]);
    }
    expect(
      predictedCandidates({
        pattern: { kind: 'sequential', delta: 1 },
        samplePorts: [1, 2, 3],
        gathered: [host],
      }),
    ).toEqual([]);
  });
});
