/**
 * The data path between two allocations of the same relay (RFC 8656 §11–§12): handed over
 * in-process, with the same permission and channel rules as a datagram from outside, and the
 * source the receiver sees is the sender's XOR-RELAYED-ADDRESS — also when the relay sits behind
 * a 1:1 NAT (externalAddress), where a datagram through the network would not come back to us.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Endpoint } from '../../../src/net/index.js';
import { MemoryNetwork } from '../../../src/net/index.js';
import { TurnClient } from '../../../src/relay/client/client.js';
import { mintTurnCredentials, sharedSecret } from '../../../src/relay/credentials.js';
import { createRelayServer, type TurnServer } from '../../../src/relay/server/turn-server.js';
import { ManualClock } from '../../../src/util/clock.js';

const RELAY = '203.0.113.1';
const EXTERNAL = '198.51.100.200';
const SECRET = 's';
const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

let closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.reverse()) await c();
  closers = [];
});

async function world(externalAddress?: string) {
  const clock = new ManualClock();
  const net = new MemoryNetwork({ clock });
  const server: TurnServer = await createRelayServer({
    net: net.addHost({ addresses: [RELAY] }),
    clock,
    listenAddress: RELAY,
    port: 3478,
    relayAddress: RELAY,
    ...(externalAddress ? { externalAddress } : {}),
    credentials: sharedSecret(SECRET),
  });
  closers.push(() => server.close());
  let n = 0;
  const client = async (): Promise<TurnClient> => {
    const creds = mintTurnCredentials(SECRET, `u${n}`, 3600, clock.now());
    const host = net.addHost({ addresses: [`198.51.100.${10 + n++}`] });
    const c = await TurnClient.allocate({
      server: { address: RELAY, port: 3478 },
      ...creds,
      net: host,
      clock,
    });
    closers.push(() => c.close());
    return c;
  };
  return { clock, server, client };
}

describe('relay data path between two allocations of one relay', () => {
  it.each([
    ['relay on its own address', undefined],
    ['relay behind a 1:1 NAT (externalAddress)', EXTERNAL],
  ])('%s: channels both ways, the source is the XOR-RELAYED-ADDRESS', async (_n, external) => {
    const w = await world(external);
    const a = await w.client();
    const b = await w.client();
    expect(a.relayedAddress.address).toBe(external ?? RELAY);
    await a.bindChannel(b.relayedAddress);
    await b.bindChannel(a.relayedAddress);
    const atB: [number[], Endpoint][] = [];
    const atA: number[][] = [];
    b.onData((d, from) => atB.push([[...d], { address: from.address, port: from.port }]));
    a.onData((d) => atA.push([...d]));
    a.send(b.relayedAddress, Uint8Array.of(1, 2));
    b.send(a.relayedAddress, Uint8Array.of(3));
    await settle();
    expect(atB).toEqual([
      [[1, 2], { address: a.relayedAddress.address, port: a.relayedAddress.port }],
    ]);
    expect(atA).toEqual([[3]]);
    expect(w.server.counters.toPeerPackets).toBe(2);
    expect(w.server.counters.toClientPackets).toBe(2);
  });

  it('without a permission at the receiver the packet is dropped and counted', async () => {
    const w = await world();
    const a = await w.client();
    const b = await w.client();
    await a.bindChannel(b.relayedAddress); // b installs nothing for a
    const atB: number[][] = [];
    b.onData((d) => atB.push([...d]));
    a.send(b.relayedAddress, Uint8Array.of(9));
    await settle();
    expect(atB).toEqual([]);
    expect(w.server.counters.dropped['no-permission']).toBe(1);
  });
});
