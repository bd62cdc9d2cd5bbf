import { describe, expect, it } from 'vitest';
import {
  canPunch,
  classifyFiltering,
  classifyMapping,
  formatNatReport,
  punchOutlook,
} from '../../../src/stun/index.js';
import type { NatReport } from '../../../src/stun/index.js';

const ep = (address: string, port: number) => ({ address, port });

describe('classification', () => {
  it('mapping from RFC 5780 tests and from several servers', () => {
    const p = ep('198.51.100.7', 1000);
    expect(classifyMapping({ primary: p, otherIp: p, otherIpPort: p, otherServers: [] })).toBe(
      'endpoint-independent',
    );
    expect(
      classifyMapping({
        primary: p,
        otherIp: ep('198.51.100.7', 2),
        otherIpPort: ep('198.51.100.7', 2),
        otherServers: [],
      }),
    ).toBe('address-dependent');
    expect(
      classifyMapping({
        primary: p,
        otherIp: ep('198.51.100.7', 2),
        otherIpPort: ep('198.51.100.7', 3),
        otherServers: [],
      }),
    ).toBe('address-and-port-dependent');
    expect(classifyMapping({ primary: p, otherServers: [p, p] })).toBe('endpoint-independent');
    expect(classifyMapping({ primary: p, otherServers: [ep('198.51.100.7', 9)] })).toBe('unknown');
    expect(classifyMapping({ primary: p, otherServers: [] })).toBe('unknown');
  });
  it('filtering from CHANGE-REQUEST outcomes', () => {
    expect(classifyFiltering({ fromOtherIpPort: true, fromOtherPort: true })).toBe(
      'endpoint-independent',
    );
    expect(classifyFiltering({ fromOtherIpPort: false, fromOtherPort: true })).toBe(
      'address-dependent',
    );
    expect(classifyFiltering({ fromOtherIpPort: false, fromOtherPort: false })).toBe(
      'address-and-port-dependent',
    );
    expect(classifyFiltering({ fromOtherPort: true })).toBe('unknown');
  });
  it('punch matrix (NETSIM-NOTES): symmetric needs a peer without port filtering', () => {
    const sym = {
      mapping: 'address-and-port-dependent',
      filtering: 'address-and-port-dependent',
    } as const;
    const prc = {
      mapping: 'endpoint-independent',
      filtering: 'address-and-port-dependent',
    } as const;
    const rc = { mapping: 'endpoint-independent', filtering: 'address-dependent' } as const;
    expect(canPunch(sym, sym)).toBe(false);
    expect(canPunch(sym, prc)).toBe(false);
    expect(canPunch(sym, rc)).toBe(true);
    expect(canPunch(prc, prc)).toBe(true);
    expect(punchOutlook({ ...sym, udp: true })).toEqual({
      direct: ['open', 'full-cone', 'restricted-cone'],
      relay: ['port-restricted', 'symmetric'],
    });
  });
});

describe('formatNatReport', () => {
  it('tells a person behind symmetric NAT what happens and what to do', () => {
    const report: NatReport = {
      servers: [
        {
          server: ep('203.0.113.1', 3478),
          mapped: ep('198.51.100.7', 61000),
          rttMs: 12,
          otherAddress: ep('203.0.113.2', 3479),
        },
      ],
      udp: true,
      local: { address: '0.0.0.0', port: 40000 },
      mapped: ep('198.51.100.7', 61000),
      behindNat: true,
      mapping: 'address-and-port-dependent',
      filtering: 'address-and-port-dependent',
      hairpinning: false,
      portPreservation: false,
      kind: 'symmetric',
      outlook: punchOutlook({
        mapping: 'address-and-port-dependent',
        filtering: 'address-and-port-dependent',
        udp: true,
      }),
      lifetime: { aliveMs: 20_000, goneMs: 30_000 },
      notes: [],
    };
    const text = formatNatReport(report);
    expect(text).toContain('Public address  198.51.100.7:61000 (local port 40000, behind NAT)');
    expect(text).toContain('NAT type        symmetric NAT');
    expect(text).toContain('Relay needed    with port-restricted, symmetric peers');
    expect(text).toContain('alive after 20 s, gone after 30 s');
    expect(text).toMatch(/UPnP-IGD/);
  });

  it('says the allocation pattern, what the router offers and the mapping granted', () => {
    const base: NatReport = {
      servers: [],
      udp: true,
      local: { address: '0.0.0.0', port: 40000 },
      behindNat: true,
      mapping: 'address-and-port-dependent',
      filtering: 'address-and-port-dependent',
      kind: 'symmetric',
      outlook: punchOutlook({
        mapping: 'address-and-port-dependent',
        filtering: 'address-and-port-dependent',
        udp: true,
      }),
      notes: [],
    };
    const text = formatNatReport({
      ...base,
      allocation: { pattern: { kind: 'sequential', delta: 2 }, samples: [] },
      portMapping: {
        offered: {
          pcp: { ok: true },
          natpmp: { ok: false, code: 'NATPUSH_ERR_PORTMAP_TIMEOUT', message: 'x' },
        },
        granted: { via: 'pcp', external: ep('203.0.113.100', 4000), lifetimeSec: 7200, ms: 20 },
      },
    });
    expect(text).toContain('Port allocation sequential, delta 2');
    expect(text).toContain('Port mapping    pcp yes, natpmp no');
    expect(text).toContain('Mapping granted 203.0.113.100:4000 by pcp in 20 ms, lifetime 7200 s');
    expect(text).toMatch(/port mappings \(pcp\)/);
    const cgn = formatNatReport({
      ...base,
      allocation: { pattern: { kind: 'random' }, samples: [] },
      portMapping: {
        offered: {},
        error: { code: 'NATPUSH_ERR_PORTMAP_NOT_PUBLIC', message: 'not public (CGN)' },
      },
    });
    expect(cgn).toContain('Mapping granted none — not public (CGN)');
    expect(cgn).toMatch(/Random ports: birthday probing/);
  });
});
