/**
 * The hard-NAT technique for each pair (src/punch/hard-nat-plan.ts), one row per pair of netsim
 * presets as measured by nat-check, with and without a port mapping; symmetric × symmetric with
 * random ports goes to the relay at once.
 */
import { describe, expect, it } from 'vitest';
import { chooseHardNatTechnique, type NatFacts } from '../../../../src/punch/hard-nat-plan.js';

const F: Record<string, NatFacts> = {
  'full-cone': { mapping: 'endpoint-independent', filtering: 'endpoint-independent' },
  'restricted-cone': { mapping: 'endpoint-independent', filtering: 'address-dependent' },
  'port-restricted': { mapping: 'endpoint-independent', filtering: 'address-and-port-dependent' },
  symmetric: {
    mapping: 'address-and-port-dependent',
    filtering: 'address-and-port-dependent',
    allocation: { kind: 'random' },
  },
  'symmetric-preserving': {
    mapping: 'address-and-port-dependent',
    filtering: 'address-and-port-dependent',
    allocation: { kind: 'preserving' },
  },
  'symmetric-sequential': {
    mapping: 'address-and-port-dependent',
    filtering: 'address-and-port-dependent',
    allocation: { kind: 'sequential', delta: 1 },
  },
  'address-dependent': {
    mapping: 'address-dependent',
    filtering: 'address-dependent',
    allocation: { kind: 'random' },
  },
};

describe('chooseHardNatTechnique', () => {
  it.each([
    ['port-restricted', 'port-restricted', { kind: 'punch' }],
    ['symmetric', 'full-cone', { kind: 'punch' }],
    ['symmetric', 'restricted-cone', { kind: 'punch' }],
    ['address-dependent', 'restricted-cone', { kind: 'punch' }],
    ['symmetric', 'port-restricted', { kind: 'birthday', hard: 'a' }],
    ['port-restricted', 'symmetric', { kind: 'birthday', hard: 'b' }],
    ['address-dependent', 'port-restricted', { kind: 'birthday', hard: 'a' }],
    ['symmetric-preserving', 'port-restricted', { kind: 'prediction' }],
    ['symmetric-preserving', 'symmetric-preserving', { kind: 'prediction' }],
    ['symmetric-sequential', 'symmetric-preserving', { kind: 'prediction' }],
    ['symmetric', 'symmetric', { kind: 'relay' }],
    ['symmetric', 'symmetric-sequential', { kind: 'relay' }],
  ] as const)('%s × %s → %j', (a, b, want) => {
    expect(chooseHardNatTechnique(F[a]!, F[b]!)).toEqual(want);
  });

  it('a port mapping on either side wins over everything', () => {
    expect(chooseHardNatTechnique(F.symmetric!, { ...F.symmetric!, portMapping: true })).toEqual({
      kind: 'mapping',
      via: 'b',
    });
  });
});
