/**
 * Port prediction on in-memory NATs (manual clock): the allocation pattern measured from a few
 * fresh sockets' STUN-like answers is the NAT's, and two symmetric NATs that allocate
 * predictably (preserving, sequential) get a packet through each other by probing the predicted
 * ports — while the same exchange between two random-port NATs does not.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryNetwork, type MemoryHost } from '../../../../src/net/memory-network.js';
import type { NatBehavior } from '../../../../src/net/nat-behavior.js';
import type { Endpoint, UdpSocket } from '../../../../src/net/udp.js';
import {
  classifyAllocation,
  plannedOrder,
  predictOwnPorts,
  type AllocationPattern,
  type AllocationSample,
} from '../../../../src/punch/port-prediction.js';
import { ManualClock } from '../../../../src/util/clock.js';

const SYM: Partial<NatBehavior> = {
  mapping: 'address-and-port-dependent',
  filtering: 'address-and-port-dependent',
};
const KINDS = {
  preserving: { ...SYM, portPreservation: true },
  sequential: { ...SYM, portPreservation: false, sequentialDelta: 1 },
  'sequential-3': { ...SYM, portPreservation: false, sequentialDelta: 3 },
  random: { ...SYM, portPreservation: false },
} as const;

let sockets: UdpSocket[] = [];
afterEach(async () => {
  for (const s of sockets) await s.close();
  sockets = [];
});

interface World {
  clock: ManualClock;
  net: MemoryNetwork;
  stun: UdpSocket;
}

async function world(): Promise<World> {
  const clock = new ManualClock();
  const net = new MemoryNetwork({ clock, seed: 7 });
  const server = net.addHost({ addresses: ['203.0.113.10'] });
  const stun = await server.bindUdp({ port: 3478 });
  sockets.push(stun);
  // A STUN-like reflector: answers with the source port it saw.
  stun.onMessage((_d, from) => stun.send(new TextEncoder().encode(String(from.port)), from));
  return { clock, net, stun };
}

async function bind(h: MemoryHost, port?: number): Promise<UdpSocket> {
  const s = await h.bindUdp(port ? { port } : {});
  sockets.push(s);
  return s;
}

/** The port the reflector saw for `s`. */
async function mapped(w: World, s: UdpSocket): Promise<number> {
  const got = new Promise<number>((resolve) => {
    const off = s.onMessage((d) => {
      off();
      resolve(Number(new TextDecoder().decode(d)));
    });
  });
  s.send(new Uint8Array([1]), { address: '203.0.113.10', port: 3478 });
  await w.clock.advanceAsync(1);
  return got;
}

async function measure(w: World, h: MemoryHost, n = 4): Promise<AllocationSample[]> {
  const out: AllocationSample[] = [];
  for (let i = 0; i < n; i++) {
    const s = await bind(h);
    out.push({ localPort: s.address().port, mappedPort: await mapped(w, s) });
  }
  return out;
}

describe('classifyAllocation on memory NATs', () => {
  it.each([
    ['preserving', { kind: 'preserving' }],
    ['sequential', { kind: 'sequential', delta: 1 }],
    ['sequential-3', { kind: 'sequential', delta: 3 }],
    ['random', { kind: 'random' }],
  ] as const)('%s', async (kind, want) => {
    const w = await world();
    const nat = w.net.addNat({ publicAddress: '203.0.113.100', behavior: KINDS[kind] });
    const h = w.net.addHost({ addresses: ['192.168.1.10'], behind: nat });
    expect(classifyAllocation(await measure(w, h))).toEqual(want);
  });

  it('one stray mapping between samples does not hide a sequential NAT', () => {
    const s = [20001, 20002, 20004, 20005, 20006].map((p, i) => ({
      localPort: 50000 + i,
      mappedPort: p,
    }));
    expect(classifyAllocation(s)).toEqual({ kind: 'sequential', delta: 1 });
  });

  it('one sample whose port another mapping held does not hide a preserving NAT', () => {
    const s = [50000, 50001, 50002, 50003].map((p) => ({ localPort: p, mappedPort: p }));
    s[2] = { localPort: 50002, mappedPort: 61234 };
    expect(classifyAllocation(s)).toEqual({ kind: 'preserving' });
    // Two of four is no majority.
    s[1] = { localPort: 50001, mappedPort: 1234 };
    expect(classifyAllocation(s).kind).not.toBe('preserving');
  });

  it('needs three samples (programmer misuse otherwise)', () => {
    expect(() => classifyAllocation([{ localPort: 1, mappedPort: 1 }])).toThrow(RangeError);
  });
});

describe('predicted ports get two symmetric NATs through each other', () => {
  /**
   * Each side measures its NAT, binds the punch socket, predicts its own mapping toward the
   * peer, "signals" the list (the test hands it over) and sends to the peer's predicted ports
   * in order, twice. Success = a packet from the peer arrives on the punch socket.
   */
  async function punch(kindA: keyof typeof KINDS, kindB: keyof typeof KINDS): Promise<boolean> {
    const w = await world();
    const natA = w.net.addNat({ publicAddress: '203.0.113.100', behavior: KINDS[kindA] });
    const natB = w.net.addNat({ publicAddress: '203.0.113.101', behavior: KINDS[kindB] });
    const a = w.net.addHost({ addresses: ['192.168.1.10'], behind: natA });
    const b = w.net.addHost({ addresses: ['192.168.2.10'], behind: natB });
    const side = async (h: MemoryHost) => {
      const pattern: AllocationPattern = classifyAllocation(await measure(w, h));
      const sock = await bind(h);
      const last = await mapped(w, sock); // the last mapping before the punch
      // Preserving: a fresh socket's first mapping keeps its port, so punch from another one.
      const punchSock = pattern.kind === 'preserving' ? await bind(h) : sock;
      const predicted = predictOwnPorts({
        pattern,
        lastMappedPort: last,
        localPort: punchSock.address().port,
        window: 4,
      });
      const heard: Endpoint[] = [];
      punchSock.onMessage((_d, from) => heard.push(from));
      return { punchSock, predicted, heard };
    };
    const sa = await side(a);
    const sb = await side(b);
    for (let round = 0; round < 2; round++) {
      for (const [from, to, addr] of [
        [sa, sb, '203.0.113.101'],
        [sb, sa, '203.0.113.100'],
      ] as const) {
        for (const port of plannedOrder(to.predicted)) {
          from.punchSock.send(new Uint8Array([2]), { address: addr, port });
        }
      }
      await w.clock.advanceAsync(10);
    }
    return sa.heard.length > 0 && sb.heard.length > 0;
  }

  it.each([
    ['preserving', 'preserving', true],
    ['sequential', 'sequential', true],
    ['sequential-3', 'sequential', true],
    ['preserving', 'sequential', true],
    ['random', 'random', false],
  ] as const)('%s × %s → %s', async (x, y, want) => {
    expect(await punch(x, y)).toBe(want);
  });
});
