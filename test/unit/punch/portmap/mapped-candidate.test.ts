/**
 * The mapped address reaches the connector through `extraCandidates`: the gatherer lists it
 * with the socket's other candidates, above srflx and relay, below host; no mapping, no
 * candidate.
 */
import { describe, expect, it } from 'vitest';
import { MemoryNetwork } from '../../../../src/net/memory-network.js';
import { CandidateGatherer, candidatePriority } from '../../../../src/punch/candidates.js';
import { mappedCandidates } from '../../../../src/punch/portmap/mapped-candidate.js';
import { StunTransactions } from '../../../../src/stun/transaction.js';
import { ManualClock } from '../../../../src/util/clock.js';

describe('mapped-address candidate', () => {
  it('is gathered through extraCandidates with the priority between host and srflx', async () => {
    const clock = new ManualClock();
    const net = new MemoryNetwork({ clock });
    const host = net.addHost({ addresses: ['192.168.1.10'] });
    const socket = await host.bindUdp({ port: 4000 });
    let mapping: { external: { address: string; port: number } } | undefined = {
      external: { address: '203.0.113.100', port: 4000 },
    };
    const mapper = {
      get mapping() {
        return mapping as never;
      },
    };
    const g = new CandidateGatherer({
      socket,
      transactions: new StunTransactions({ send: (b, to) => socket.send(b, to), clock }),
      clock,
      interfaces: () => ['192.168.1.10'],
      extraCandidates: () => mappedCandidates(mapper),
    });
    const got = await g.gather();
    const mapped = got.find((c) => c.address === '203.0.113.100')!;
    expect(mapped).toMatchObject({ type: 'srflx', port: 4000 });
    expect(mapped.priority).toBeGreaterThan(candidatePriority('srflx'));
    expect(mapped.priority).toBeLessThan(got.find((c) => c.type === 'host')!.priority);
    mapping = undefined;
    expect((await g.gather()).some((c) => c.address === '203.0.113.100')).toBe(false);
    await g.close();
    await socket.close();
  });
});
