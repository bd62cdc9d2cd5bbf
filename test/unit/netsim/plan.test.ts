import { describe, expect, it } from 'vitest';
import { natRuleset } from '../../../netsim/nat-rules.js';
import { planLab } from '../../../netsim/plan.js';
import { NAT_PRESETS } from '../../../netsim/presets.js';
import { normalizeSpec, validateSpec, type LabSpec } from '../../../netsim/spec.js';

describe('netsim spec validation', () => {
  it('fills in one server with an alternate address', () => {
    expect(normalizeSpec({}).servers).toEqual([{ name: 'server', alternateAddress: true }]);
  });

  it.each<[LabSpec, RegExp]>([
    [{ hosts: [{ name: 'Bad' }] }, /must match/],
    [{ hosts: [{ name: 'a' }, { name: 'a' }] }, /used twice/],
    [{ hosts: [{ name: 'inet' }] }, /reserved/],
    [{ hosts: [{ name: 'a', behind: 'nope' }] }, /unknown NAT/],
    [{ nats: [{ name: 'n', preset: 'open' as never }] }, /unknown preset/],
    [{ nats: [{ name: 'n', preset: 'symmetric', behind: 'x' }] }, /unknown NAT/],
    [
      {
        nats: [
          { name: 'a', preset: 'symmetric' },
          { name: 'b', preset: 'symmetric', behind: 'a' },
          { name: 'c', preset: 'symmetric', behind: 'b' },
        ],
      },
      /one level of CGN/,
    ],
    [{ hosts: [{ name: 'a', link: { lossPercent: 101 } }] }, /lossPercent/],
    [{ hosts: [{ name: 'a', link: { delayMs: 5, jitterMs: 6 } }] }, /jitterMs/],
    [
      { nats: [{ name: 'n', preset: 'symmetric', udpBindingTimeoutSec: 0 }] },
      /udpBindingTimeoutSec/,
    ],
  ])('rejects %j', (spec, msg) => {
    expect(() => normalizeSpec(spec)).toThrow(msg);
  });

  it('a host may not take the default server name', () => {
    expect(() => normalizeSpec({ hosts: [{ name: 'server' }] })).toThrow(/used twice/);
    expect(() => validateSpec({ hosts: [{ name: 'server' }] })).not.toThrow();
  });
});

describe('netsim address plan', () => {
  const plan = planLab(
    'np-x',
    normalizeSpec({
      nats: [
        { name: 'cgn', preset: 'port-restricted' },
        { name: 'home', preset: 'full-cone', behind: 'cgn' },
        { name: 'n', preset: 'symmetric' },
      ],
      hosts: [
        { name: 'a', behind: 'home' },
        { name: 'b', behind: 'n' },
        { name: 'c', behind: 'n' },
        { name: 'pub' },
      ],
    }),
  );
  const node = (name: string) => plan.nodes.find((n) => n.name === name)!;

  it('puts servers, NATs and public hosts in the documentation prefixes', () => {
    expect(node('server')).toMatchObject({
      address: '203.0.113.10',
      alternateAddress: '198.51.100.10',
    });
    expect(node('cgn').address).toBe('203.0.113.100');
    expect(node('n').address).toBe('203.0.113.101');
    expect(node('pub').address).toBe('203.0.113.50');
  });

  it('gives a carrier-grade NAT a LAN in 100.64.0.0/10 and NATs behind it an address there', () => {
    expect(node('cgn').lanAddress).toMatch(/^100\.64\.\d+\.1$/);
    expect(node('home').address).toMatch(/^100\.64\.\d+\.100$/);
    expect(node('home').behind).toBe('cgn');
  });

  it('puts several hosts behind the same NAT on its LAN', () => {
    expect(node('b').address).toBe('192.168.3.10');
    expect(node('c').address).toBe('192.168.3.11');
    expect(node('n').lanAddress).toBe('192.168.3.1');
  });

  it('names every namespace with the prefix and never uses the root namespace', () => {
    for (const n of plan.nodes) expect(n.namespace.startsWith('np-x-')).toBe(true);
    for (const v of plan.veths) {
      expect(v.ns.startsWith('np-x-')).toBe(true);
      expect(v.peerNs.startsWith('np-x-')).toBe(true);
      // Distinct ifindexes on the two ends (see plan.ts: linkwatch and ifindex == iflink).
      expect(v.index).not.toBe(v.peerIndex);
    }
  });

  it('routes nothing beyond the lab: no default route on the internet side', () => {
    for (const n of ['server', 'cgn', 'n', 'pub']) {
      expect(plan.scripts.get(node(n).namespace)).not.toMatch(/route add default/);
    }
    expect(plan.scripts.get(node('home').namespace)).toMatch(
      /route add default via 100\.64\.\d+\.1 dev wan/,
    );
    expect(plan.scripts.get(node('b').namespace)).toMatch(
      /route add default via 192\.168\.3\.1 dev eth0/,
    );
  });

  it('keeps interface names within IFNAMSIZ (15)', () => {
    for (const v of plan.veths) {
      expect(v.ifname.length).toBeLessThanOrEqual(15);
      expect(v.peerIf.length).toBeLessThanOrEqual(15);
    }
  });
});

describe('netsim NAT rules per RFC 4787 behaviour', () => {
  const rules = (preset: keyof typeof NAT_PRESETS, hairpinning = false, udpBlocked = false) =>
    natRuleset({
      behavior: NAT_PRESETS[preset],
      publicAddress: '203.0.113.100',
      hairpinning,
      udpBlocked,
      bindingTimeoutSec: 7,
      wanIf: 'wan',
      lanIf: 'lan',
    });

  it('endpoint-independent filtering DNATs any sender through the bindings', () => {
    expect(rules('full-cone')).toMatch(
      /iifname "wan" ip daddr 203\.0\.113\.100 dnat ip to udp dport map @bindings/,
    );
  });

  it('address-dependent filtering DNATs only contacted addresses', () => {
    expect(rules('restricted-cone')).toMatch(/udp dport \. ip saddr @contacted dnat/);
    expect(rules('restricted-cone')).not.toMatch(/iifname "wan" ip daddr 203\.0\.113\.100 dnat/);
  });

  it('address-and-port-dependent filtering leaves inbound to conntrack', () => {
    for (const p of ['port-restricted', 'symmetric'] as const)
      expect(rules(p)).not.toMatch(/iifname "wan"[^\n]*dnat ip to/);
  });

  it('symmetric mapping uses fully random ports for every flow', () => {
    expect(rules('symmetric')).toMatch(/oifname "wan" snat ip to 203\.0\.113\.100 fully-random/);
    expect(rules('symmetric')).not.toMatch(/map @endpoints/);
  });

  it('cone mappings reuse an endpoint binding, else keep the port unless another endpoint has it', () => {
    const r = rules('port-restricted');
    const at = (re: RegExp) => r.search(re);
    expect(
      at(/snat ip to 203\.0\.113\.100 : ip saddr \. udp sport map @endpoints/),
    ).toBeGreaterThan(0);
    expect(at(/udp sport @taken snat ip to 203\.0\.113\.100 fully-random/)).toBeGreaterThan(
      at(/map @endpoints\n/),
    );
    expect(r).toMatch(/oifname "wan" snat ip to 203\.0\.113\.100\n/);
    expect(r).toMatch(
      /update @endpoints \{ ct original ip saddr \. ct original proto-src : udp sport \}/,
    );
  });

  it('drops unsolicited inbound at the router itself', () => {
    expect(rules('port-restricted')).toMatch(/iifname "wan" drop/);
  });

  it('hairpinning and udp-blocked are rules of their own; timeouts are the binding timeout', () => {
    expect(rules('symmetric', true)).toMatch(/iifname "lan" ip daddr 203\.0\.113\.100 dnat/);
    expect(rules('symmetric', false)).not.toMatch(/iifname "lan" ip daddr 203\.0\.113\.100 dnat/);
    expect(rules('symmetric', false, true)).toMatch(/iifname "lan" meta l4proto udp drop/);
    expect(rules('symmetric')).toMatch(/timeout 7s/);
  });
});

describe('netsim README picture', () => {
  it('has the addresses the lab of its example gets', () => {
    const plan = planLab(
      'np-readme',
      normalizeSpec({
        nats: [
          { name: 'n1', preset: 'symmetric' },
          { name: 'cgn', preset: 'port-restricted' },
          { name: 'home', preset: 'full-cone', behind: 'cgn' },
        ],
        hosts: [{ name: 'a', behind: 'n1' }, { name: 'b', behind: 'home' }, { name: 'c' }],
      }),
    );
    const got = Object.fromEntries(
      plan.nodes.map((n) => [n.name, [n.address, n.lanAddress ?? n.alternateAddress]]),
    );
    expect(got).toEqual({
      server: ['203.0.113.10', '198.51.100.10'],
      n1: ['203.0.113.100', '192.168.1.1'],
      cgn: ['203.0.113.101', '100.64.1.1'],
      home: ['100.64.1.100', '192.168.3.1'],
      a: ['192.168.1.10', undefined],
      b: ['192.168.3.10', undefined],
      c: ['203.0.113.50', undefined],
    });
  });
});
