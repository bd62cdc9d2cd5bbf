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
  /** With `raw`, the client's socket is handed in and its datagrams are also seen raw. */
  const client = async (raw?: Uint8Array[]): Promise<TurnClient> => {
    const creds = mintTurnCredentials(SECRET, `u${n}`, 3600, clock.now());
    const host = net.addHost({ addresses: [`198.51.100.${10 + n++}`] });
    const socket = raw ? await host.bindUdp({}) : undefined;
    socket?.onMessage((d) => raw!.push(Uint8Array.from(d)));
    if (socket) closers.push(() => socket.close());
    const sendRaw = (bytes: Uint8Array): void =>
      socket!.send(bytes, { address: RELAY, port: 3478 });
    const c = await TurnClient.allocate({
      server: { address: RELAY, port: 3478 },
      ...creds,
      ...(socket ? { socket } : { net: host }),
      clock,
    });
    closers.push(() => c.close());
    rawSenders.set(c, sendRaw);
    return c;
  };
  const rawSenders = new Map<TurnClient, (bytes: Uint8Array) => void>();
  const sendRaw = (c: TurnClient, bytes: Uint8Array): void => rawSenders.get(c)!(bytes);
  return { clock, server, client, sendRaw };
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

  it("a padded ChannelData datagram goes on with the receiver's channel, unpadded", async () => {
    const w = await world();
    const sentRaw: Uint8Array[] = [];
    const atBRaw: Uint8Array[] = [];
    const a = await w.client(sentRaw);
    const b = await w.client(atBRaw);
    const aToB = await a.bindChannel(b.relayedAddress);
    await b.bindChannel({ address: '198.51.100.99', port: 9 }); // so B's number for A differs
    const bToA = await b.bindChannel(a.relayedAddress);
    expect(bToA).not.toBe(aToB);
    const atB: [number[], number][] = [];
    b.onData((d, from) => atB.push([[...d], from.port]));
    // §12.5: padding to 4 bytes is optional over UDP; one payload byte, three of padding.
    const padded = Uint8Array.of(aToB >>> 8, aToB & 0xff, 0, 1, 7, 0xee, 0xee, 0xee);
    atBRaw.length = 0; // the answers to B's requests
    w.sendRaw(a, padded);
    await settle();
    expect(atB).toEqual([[[7], a.relayedAddress.port]]);
    expect(atBRaw.map((d) => [...d])).toEqual([[bToA >>> 8, bToA & 0xff, 0, 1, 7]]);
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
