/**
 * NAT discovery on a slow path: the mapping and hairpin probes wait at least two of Test I's
 * round trips after their last request (nat-discovery.ts #afterTestI). Before, they gave up at a
 * fixed 2.75 s, and a hairpinning NAT whose looped-back request took 3 s on a path with a 1.4 s
 * round trip was reported as not hairpinning. In-memory network, manual clock.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryNetwork, NAT_PRESETS } from '../../../src/net/index.js';
import type { Packet } from '../../../src/net/memory-network.js';
import { StunServer, discoverNat } from '../../../src/stun/index.js';
import type { NatReport } from '../../../src/stun/index.js';
import { ManualClock } from '../../../src/util/clock.js';

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

/**
 * A hairpinning port-restricted NAT; every datagram to or from the server is `oneWayMs` late
 * (Test I's round trip is twice that), and the host's request to its own mapped address reaches
 * the NAT `hairpinMs` late. Returns the report and when each hairpin request left.
 */
async function slowPath(
  oneWayMs: number,
  hairpinMs: number,
): Promise<{ r: NatReport; hairpinAt: number[] }> {
  const clock = new ManualClock();
  const net = new MemoryNetwork({ clock });
  const serverHost = net.addHost({ addresses: ['203.0.113.1', '203.0.113.2'] });
  const server = await StunServer.start({
    net: serverHost,
    clock,
    listen: { address: '203.0.113.1', port: 3478 },
    alternate: { address: '203.0.113.2', port: 3479 },
  });
  cleanup.push(() => server.close());
  const nat = net.addNat({
    publicAddress: '198.51.100.7',
    behavior: { ...NAT_PRESETS['port-restricted'], hairpinning: true },
  });
  const host = net.addHost({ addresses: ['192.168.1.2'], behind: nat });
  const passing = new WeakSet<Packet>();
  const hairpinAt: number[] = [];
  net.dropIf((p) => {
    if (passing.has(p)) return false;
    // Between the NAT's public address and the server: on the internet, after translation.
    const pub = '198.51.100.7';
    const server =
      (p.src.address === pub && p.dst.address.startsWith('203.0.113.')) ||
      (p.dst.address === pub && p.src.address.startsWith('203.0.113.'));
    const hairpin = p.src.address === '192.168.1.2' && p.dst.address === '198.51.100.7';
    if (!server && !hairpin) return false;
    if (hairpin) hairpinAt.push(clock.now());
    const again = { ...p };
    passing.add(again);
    const realm = hairpin ? nat.inside : net.internet;
    clock.setTimeout(() => net.route(realm, again), hairpin ? hairpinMs : oneWayMs);
    return true;
  });
  const done = discoverNat({ net: host, clock, servers: [server.primary] });
  for (let t = 0; t < 20_000; t += 10) await clock.advanceAsync(10);
  return { r: await done, hairpinAt };
}

describe('NAT discovery on a slow path', () => {
  it('a hairpin answer later than the fixed 2.75 s but within two round trips counts', async () => {
    const { r, hairpinAt } = await slowPath(700, 3_000);
    expect(r.servers[0]!.rttMs).toBe(1_400);
    expect(r).toMatchObject({
      hairpinning: true,
      mapping: 'endpoint-independent',
      kind: 'port-restricted',
    });
    expect(hairpinAt.length).toBeGreaterThan(0);
  });

  it('an unanswered hairpin probe waits two round trips after its last request, not forever', async () => {
    // No loop-back within 2 × 1.4 s of the last request: a NAT that does not hairpin, as before.
    const { r, hairpinAt } = await slowPath(700, 10_000);
    expect(r.hairpinning).toBe(false);
    const t0 = hairpinAt[0]!;
    expect(hairpinAt.map((t) => t - t0)).toEqual([0, 250, 750, 1750]);
  });

  it('on a fast path the schedule is unchanged: a loop-back after 2.75 s is no hairpin', async () => {
    const { r } = await slowPath(5, 2_800);
    expect(r.hairpinning).toBe(false);
  });
});
