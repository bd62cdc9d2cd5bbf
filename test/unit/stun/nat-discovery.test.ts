/**
 * NAT discovery against our RFC 5780 server on the in-memory network: for every NAT behaviour
 * (the netsim presets plus the address-dependent-mapping NAT and nested CGN), discoverNat
 * reports exactly the behaviour the MemoryNat was built with.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { NatBehavior } from '../../../src/net/index.js';
import { MemoryNetwork, NAT_PRESETS } from '../../../src/net/index.js';
import { StunServer, discoverNat } from '../../../src/stun/index.js';
import type { NatDiscoveryOptions, NatReport } from '../../../src/stun/index.js';
import { ManualClock } from '../../../src/util/clock.js';

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

interface Lab {
  behavior?: Partial<NatBehavior>;
  cgn?: Partial<NatBehavior>;
  alternate?: { address?: string; port?: number };
  extra?: Partial<NatDiscoveryOptions>;
  advanceMs?: number;
  /** Look at the network before discovery starts (record or drop packets). */
  onNet?: (net: MemoryNetwork, clock: ManualClock) => void;
}

async function check(lab: Lab): Promise<NatReport> {
  const clock = new ManualClock();
  const net = new MemoryNetwork({ clock });
  const serverHost = net.addHost({ addresses: ['203.0.113.1', '203.0.113.2'] });
  const server = await StunServer.start({
    net: serverHost,
    clock,
    listen: { address: '203.0.113.1', port: 3478 },
    alternate: lab.alternate ?? { address: '203.0.113.2', port: 3479 },
  });
  cleanup.push(() => server.close());
  const cgn = lab.cgn
    ? net.addNat({ publicAddress: '198.51.100.99', behavior: lab.cgn })
    : undefined;
  const nat = lab.behavior
    ? net.addNat({
        publicAddress: cgn ? '100.64.0.2' : '198.51.100.7',
        behavior: lab.behavior,
        ...(cgn ? { behind: cgn } : {}),
      })
    : undefined;
  const host = net.addHost({
    addresses: [nat ? '192.168.1.2' : '198.51.100.50'],
    ...(nat ? { behind: nat } : {}),
  });
  lab.onNet?.(net, clock);
  const done = discoverNat({
    net: host,
    clock,
    servers: [server.primary],
    localAddresses: host.addresses.slice(),
    ...lab.extra,
  });
  // Time passes in 10 ms steps, as it does for real: a probe that starts after a few awaits
  // (fresh sockets, several NAT hops on microtasks) must not find the clock already at the end.
  for (let t = 0; t < (lab.advanceMs ?? 5_000); t += 10) await clock.advanceAsync(10);
  return done;
}

describe.each([
  ['full-cone', NAT_PRESETS['full-cone'], 'endpoint-independent', 'endpoint-independent'],
  ['restricted-cone', NAT_PRESETS['restricted-cone'], 'endpoint-independent', 'address-dependent'],
  [
    'port-restricted',
    NAT_PRESETS['port-restricted'],
    'endpoint-independent',
    'address-and-port-dependent',
  ],
  ['symmetric', NAT_PRESETS.symmetric, 'address-and-port-dependent', 'address-and-port-dependent'],
] as const)('discoverNat behind %s', (kind, behavior, mapping, filtering) => {
  it(`reports ${mapping} mapping, ${filtering} filtering, kind ${kind}`, async () => {
    const r = await check({ behavior });
    expect(r).toMatchObject({
      udp: true,
      behindNat: true,
      mapping,
      filtering,
      kind,
      hairpinning: false,
    });
    expect(r.mapped?.address).toBe('198.51.100.7');
    expect(r.portPreservation).toBe(behavior.portPreservation);
  });
});

describe('discoverNat, other cases', () => {
  it('address-dependent mapping', async () => {
    const r = await check({
      behavior: { mapping: 'address-dependent', filtering: 'address-dependent' },
    });
    expect(r).toMatchObject({
      mapping: 'address-dependent',
      filtering: 'address-dependent',
      kind: 'other',
    });
  });

  it('hairpinning on a restricted cone that loops packets back (RFC 4787 §6)', async () => {
    const r = await check({ behavior: { ...NAT_PRESETS['restricted-cone'], hairpinning: true } });
    expect(r).toMatchObject({ kind: 'restricted-cone', hairpinning: true });
  });

  it('an unanswered hairpin probe runs the discovery schedule: 0, 250, 750, 1750 ms (RFC 8489 §6.2.1)', async () => {
    const hairpinAt: number[] = [];
    const r = await check({
      behavior: NAT_PRESETS['port-restricted'],
      onNet: (net, clock) =>
        net.dropIf((p) => {
          // The request to our own mapped address, as it leaves the host.
          if (p.src.address === '192.168.1.2' && p.dst.address === '198.51.100.7')
            hairpinAt.push(clock.now());
          return false;
        }),
    });
    expect(r.hairpinning).toBe(false);
    expect(hairpinAt.map((t) => t - hairpinAt[0]!)).toEqual([0, 250, 750, 1750]);
  });

  it('no NAT: open', async () => {
    const r = await check({});
    expect(r).toMatchObject({
      behindNat: false,
      kind: 'open',
      mapping: 'endpoint-independent',
      filtering: 'endpoint-independent',
    });
    expect(r.outlook.relay).toEqual([]);
  });

  it('UDP blocked: no UDP, relay with everyone; a TCP probe tells it apart from a dead server', async () => {
    const r = await check({
      behavior: NAT_PRESETS['udp-blocked'],
      extra: { tcpProbe: () => Promise.resolve({ address: '198.51.100.7', port: 1 }) },
    });
    expect(r).toMatchObject({ udp: false, tcp: true, kind: 'udp-blocked' });
    expect(r.outlook.direct).toEqual([]);
    expect(r.notes.join()).toMatch(/UDP is blocked/);
  });

  it('behind a symmetric carrier-grade NAT the combined behaviour is symmetric', async () => {
    const r = await check({ behavior: NAT_PRESETS['full-cone'], cgn: NAT_PRESETS.symmetric });
    expect(r).toMatchObject({ kind: 'symmetric', mapping: 'address-and-port-dependent' });
    expect(r.mapped?.address).toBe('198.51.100.99');
  });

  it('port-restricted behind an endpoint-independent CGN stays port-restricted', async () => {
    const r = await check({
      behavior: NAT_PRESETS['port-restricted'],
      cgn: NAT_PRESETS['full-cone'],
    });
    expect(r).toMatchObject({ kind: 'port-restricted' });
  });

  it('a server with only an alternate port can still tell port-dependence', async () => {
    const sym = await check({ behavior: NAT_PRESETS.symmetric, alternate: { port: 3479 } });
    expect(sym.mapping).toBe('address-and-port-dependent');
    expect(sym.filtering).toBe('address-and-port-dependent');
    const cone = await check({ behavior: NAT_PRESETS['full-cone'], alternate: { port: 3479 } });
    expect(cone.mapping).toBe('unknown');
    expect(cone.filtering).toBe('unknown');
    expect(cone.notes.length).toBeGreaterThan(0);
  });

  it('measures the binding lifetime with RESPONSE-PORT (RFC 5780 §4.6)', async () => {
    const r = await check({
      behavior: { ...NAT_PRESETS['port-restricted'], mappingTimeoutMs: 30_000 },
      extra: { lifetimeStepsMs: [10_000, 20_000, 40_000, 60_000] },
      advanceMs: 70_000,
    });
    expect(r.lifetime).toEqual({ aliveMs: 20_000, goneMs: 40_000 });
  });

  it('outlook: port-restricted punches to all but symmetric', async () => {
    const r = await check({ behavior: NAT_PRESETS['port-restricted'] });
    expect(r.outlook).toEqual({
      direct: ['open', 'full-cone', 'restricted-cone', 'port-restricted'],
      relay: ['symmetric'],
    });
  });
});

describe('discoverNat on a loaded machine: a late filtering answer still counts', () => {
  /**
   * Every answer of the server to a socket other than the first one it heard from (the main
   * socket: Test I, mapping) arrives `ms` late — the filtering socket's Test I included, as when
   * the machine is loaded while the filtering test runs. Returns what was delayed.
   */
  function lateAnswers(ms: number, drop = false): Lab['onNet'] {
    return (net, clock) => {
      let main: string | undefined;
      const passing = new WeakSet<object>();
      net.dropIf((p) => {
        // The server's answers as they cross the internet (not again behind the NAT).
        if (!p.src.address.startsWith('203.0.113.') || p.dst.address.startsWith('192.168.'))
          return false;
        if (passing.has(p)) return false;
        const to = `${p.dst.address}:${p.dst.port}`;
        main ??= to;
        if (to === main) return false;
        if (!drop) {
          const again = { ...p };
          passing.add(again);
          clock.setTimeout(() => net.route(net.internet, again), ms);
        }
        return true;
      });
    };
  }

  it.each([
    ['full-cone', 'endpoint-independent'],
    ['restricted-cone', 'address-dependent'],
    ['port-restricted', 'address-and-port-dependent'],
  ] as const)('%s with answers 3.5 s late: %s filtering', async (kind, filtering) => {
    const r = await check({
      behavior: NAT_PRESETS[kind],
      onNet: lateAnswers(3_500),
      advanceMs: 15_000,
    });
    expect(r).toMatchObject({ filtering, kind });
  });

  it('answers 9 s late still count; 12 s late (past FILTERING_WAIT.maxMs): unknown, and the check ends', async () => {
    // check() advances the clock 15 s and no more: a discovery still waiting would hang here.
    const late = await check({
      behavior: NAT_PRESETS['restricted-cone'],
      onNet: lateAnswers(9_000),
      advanceMs: 15_000,
    });
    expect(late.filtering).toBe('address-dependent');
    const later = await check({
      behavior: NAT_PRESETS['restricted-cone'],
      onNet: lateAnswers(12_000),
      advanceMs: 15_000,
    });
    expect(later.filtering).toBe('unknown');
  });

  it('no answer at all on the filtering socket: filtering unknown (not a filter), with a note', async () => {
    const r = await check({
      behavior: NAT_PRESETS['full-cone'],
      onNet: lateAnswers(0, true),
      advanceMs: 15_000,
    });
    expect(r.filtering).toBe('unknown');
    expect(r.notes.join()).toMatch(/Test I/);
  });
});
