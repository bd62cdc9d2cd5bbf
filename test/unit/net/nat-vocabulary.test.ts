/**
 * One NAT vocabulary (src/net/nat-behavior.ts NAT_TYPES): MemoryNetwork's presets and netsim's
 * are derived from the one table and say the same thing per name; the rows netsim had before
 * the table are pinned here, and every row behaves on MemoryNetwork as its allocation says.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  CLASSIC_NAT_TYPES,
  HARD_NAT_TYPES,
  NAT_TYPES,
  type NatTypeName,
} from '../../../src/net/nat-behavior.js';
import {
  MemoryNetwork,
  NAT_PRESETS,
  type Endpoint,
  type UdpSocket,
} from '../../../src/net/index.js';
import {
  ALL_NAT_PRESET_NAMES,
  HARD_NAT_PRESET_NAMES,
  NAT_PRESET_NAMES,
  NAT_PRESETS as NETSIM_PRESETS,
} from '../../../netsim/presets.js';
import { ManualClock } from '../../../src/util/clock.js';

const EI = 'endpoint-independent';
const AD = 'address-dependent';
const APD = 'address-and-port-dependent';
const names = Object.keys(NAT_TYPES) as NatTypeName[];

describe('one table, two tiers', () => {
  it('netsim keeps its public names and the rows it had', () => {
    expect(NAT_PRESET_NAMES).toEqual([...CLASSIC_NAT_TYPES]);
    expect(HARD_NAT_PRESET_NAMES).toEqual([...HARD_NAT_TYPES]);
    expect(ALL_NAT_PRESET_NAMES.sort()).toEqual([...names].sort());
    expect(NETSIM_PRESETS).toEqual({
      'full-cone': { mapping: EI, filtering: EI, randomPorts: false },
      'restricted-cone': { mapping: EI, filtering: AD, randomPorts: false },
      'port-restricted': { mapping: EI, filtering: APD, randomPorts: false },
      symmetric: { mapping: APD, filtering: APD, randomPorts: true, portAllocation: 'random' },
      'address-dependent': {
        mapping: AD,
        filtering: AD,
        randomPorts: false,
        portAllocation: 'hashed',
      },
      'symmetric-preserving': {
        mapping: APD,
        filtering: APD,
        randomPorts: false,
        portAllocation: 'preserving',
      },
      'symmetric-sequential': {
        mapping: APD,
        filtering: APD,
        randomPorts: false,
        portAllocation: 'sequential',
      },
    });
  });

  it('MemoryNetwork keeps the presets it had and has every row of the table', () => {
    const common = { hairpinning: false, mappingTimeoutMs: 120_000, blockUdp: false };
    expect(NAT_PRESETS['full-cone']).toEqual({
      ...common,
      mapping: EI,
      filtering: EI,
      portPreservation: true,
    });
    expect(NAT_PRESETS['port-restricted']).toMatchObject({
      filtering: APD,
      portPreservation: true,
    });
    expect(NAT_PRESETS.symmetric).toEqual({
      ...common,
      mapping: APD,
      filtering: APD,
      portPreservation: false,
    });
    expect(NAT_PRESETS['udp-blocked']).toMatchObject({ blockUdp: true, portPreservation: true });
    for (const n of names) {
      const t = NAT_TYPES[n];
      const m = NAT_PRESETS[n];
      const k = NETSIM_PRESETS[n];
      expect([m.mapping, m.filtering, k.mapping, k.filtering], n).toEqual([
        t.mapping,
        t.filtering,
        t.mapping,
        t.filtering,
      ]);
      expect(m.hairpinning, n).toBe(t.hairpin);
      expect(m.portPreservation, n).toBe(t.allocation === 'preserving');
      expect(k.randomPorts, n).toBe(t.allocation === 'random');
    }
  });
});

describe('each row on MemoryNetwork allocates ports as the table says', () => {
  const sockets: UdpSocket[] = [];
  afterEach(async () => {
    await Promise.all(sockets.splice(0).map((s) => s.close()));
  });

  /** The external endpoints seen for two inside sockets sending to three remote endpoints. */
  async function mapped(name: NatTypeName, seed = 1) {
    const net = new MemoryNetwork({ clock: new ManualClock(), seed });
    const nat = net.addNat({ publicAddress: '198.51.100.7', behavior: NAT_PRESETS[name] });
    const inside = net.addHost({ addresses: ['192.168.1.2'], behind: nat });
    const server = net.addHost({ addresses: ['203.0.113.1', '203.0.113.2'] });
    const seen: Endpoint[] = [];
    const remotes: Endpoint[] = [
      { address: '203.0.113.1', port: 3478 },
      { address: '203.0.113.1', port: 3479 },
      { address: '203.0.113.2', port: 3478 },
    ];
    for (const r of remotes) {
      const s = await server.bindUdp({ address: r.address, port: r.port });
      s.onMessage((_d, from) => seen.push(from));
      sockets.push(s);
    }
    const a = await inside.bindUdp({ port: 5000 });
    const b = await inside.bindUdp({ port: 5001 });
    sockets.push(a, b);
    for (const c of [a, b]) {
      for (const r of remotes) {
        c.send(Buffer.from('x'), r);
        for (let i = 0; i < 10; i++) await Promise.resolve();
      }
    }
    return seen.map((e) => e.port);
  }

  it('preserving rows keep the internal port; symmetric-preserving only for the first mapping', async () => {
    for (const n of ['full-cone', 'restricted-cone', 'port-restricted'] as const) {
      expect(await mapped(n), n).toEqual([5000, 5000, 5000, 5001, 5001, 5001]);
    }
    const p = await mapped('symmetric-preserving');
    expect(p[0]).toBe(5000);
    expect(p[3]).toBe(5001);
    expect(new Set(p).size).toBe(6); // a new mapping per remote endpoint
  });

  it('symmetric-sequential: each new mapping takes the next port', async () => {
    const p = await mapped('symmetric-sequential');
    expect(p.slice(1).map((x, i) => x - p[i]!)).toEqual([1, 1, 1, 1, 1]);
  });

  it('address-dependent: hashed, one port per remote address, the same in any run', async () => {
    const p = await mapped('address-dependent');
    expect(p[0]).toBe(p[1]); // two ports of one remote address
    expect(p[2]).not.toBe(p[0]);
    expect(new Set(p).size).toBe(4);
    expect(await mapped('address-dependent', 99)).toEqual(p); // not from the random stream
  });

  it('symmetric: random, a new port per remote endpoint, seeded', async () => {
    const p = await mapped('symmetric');
    expect(new Set(p).size).toBe(6);
    expect(p).not.toContain(5000);
    expect(await mapped('symmetric', 99)).not.toEqual(p);
  });
});
