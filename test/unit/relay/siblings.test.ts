/**
 * Sibling workers (src/relay/server/siblings.ts): two relay servers that mirror each other's UDP
 * allocations hand a packet for the other's client straight to that client — only when the
 * mirror shows the allocation alive with a live permission and channel for the sender — and
 * otherwise leave it to the path through the relayed sockets, where the owner judges it.
 *
 * In `relay --workers` the siblings share one port, so the handed-over datagram leaves from the
 * same address the client's own server uses; here they listen on two ports of one host, so the
 * test can tell who sent what.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryNetwork } from '../../../src/net/index.js';
import { sharedSecret } from '../../../src/relay/credentials.js';
import type { SiblingExchange, SiblingState } from '../../../src/relay/server/siblings.js';
import { createRelayServer, type TurnServer } from '../../../src/relay/server/turn-server.js';
import { portClients } from './port-clients.js';
import { ManualClock } from '../../../src/util/clock.js';

const RELAY = '203.0.113.1';
const SECRET = 's';
const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

let closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.reverse()) await c();
  closers = [];
});

type Apply = (from: number, port: number, state: SiblingState | undefined) => void;

/**
 * Two exchanges wired to each other in memory (the primary's relay in `relay --workers`). While
 * `held[i]` is set, server i's updates wait (an IPC hop that has not arrived yet).
 */
function linked(held: boolean[]): [SiblingExchange, SiblingExchange] {
  const applies: (Apply | undefined)[] = [undefined, undefined];
  const make = (me: number): SiblingExchange => ({
    publish: (port, state) => {
      if (!held[me]) applies[1 - me]?.(me, port, state);
    },
    serve: (apply) => void (applies[me] = apply),
  });
  return [make(0), make(1)];
}

async function world(extra: { userBytesPerSecond?: number } = {}) {
  const clock = new ManualClock();
  const net = new MemoryNetwork({ clock });
  const host = net.addHost({ addresses: [RELAY] });
  const held = [false, false];
  const [x0, x1] = linked(held);
  const servers: TurnServer[] = [];
  for (const [port, siblingExchange] of [
    [3478, x0],
    [3479, x1],
  ] as const) {
    const s = await createRelayServer({
      net: host,
      clock,
      listenAddress: RELAY,
      port,
      relayAddress: RELAY,
      credentials: sharedSecret(SECRET),
      siblingExchange,
      ...extra,
    });
    closers.push(() => s.close());
    servers.push(s);
  }
  const clientOf = portClients({ net, clock, secret: SECRET, relay: RELAY, closers });
  const client = async (port: number) => {
    const c = await clientOf(port);
    return { c, raw: c.raw };
  };
  return { servers, client, held };
}

describe('relay sibling workers', () => {
  it('hands ChannelData to the sibling’s client directly once its mirror shows the channel', async () => {
    const w = await world();
    const [s0, s1] = w.servers as [TurnServer, TurnServer];
    const a = await w.client(3478);
    const b = await w.client(3479);
    await a.c.bindChannel(b.c.relayedAddress);
    const bToA = await b.c.bindChannel(a.c.relayedAddress);
    await settle();
    b.raw.length = 0; // the answers to b's requests
    a.c.send(b.c.relayedAddress, Uint8Array.of(1, 2, 3));
    await settle();
    // From server 0's socket (in `--workers` the shared port), with b's channel number for a.
    expect(b.raw).toEqual([
      [[bToA >>> 8, bToA & 0xff, 0, 3, 1, 2, 3], { address: RELAY, port: 3478 }],
    ]);
    expect(s0.counters.toSiblingClientPackets).toBe(1);
    expect(s0.counters.toClientPackets).toBe(1);
    expect(s1.counters.toClientPackets).toBe(0); // server 1 never saw it
    expect(s0.counters.toPeerPackets).toBe(1);
  });

  it('a mirror that does not show the channel yet leaves the packet to the relayed sockets', async () => {
    const w = await world();
    const [s0, s1] = w.servers as [TurnServer, TurnServer];
    const a = await w.client(3478);
    const b = await w.client(3479);
    await a.c.bindChannel(b.c.relayedAddress);
    // b's ChannelBind is answered, but server 0 has not heard of it yet.
    w.held[1] = true;
    const bToA = await b.c.bindChannel(a.c.relayedAddress);
    await settle();
    b.raw.length = 0;
    a.c.send(b.c.relayedAddress, Uint8Array.of(7));
    await settle();
    // Server 1 relayed it, from its own port, as the owner of the binding.
    expect(b.raw).toEqual([[[bToA >>> 8, bToA & 0xff, 0, 1, 7], { address: RELAY, port: 3479 }]]);
    expect(s0.counters.toSiblingClientPackets).toBe(0);
    expect(s1.counters.toClientPackets).toBe(1);
  });

  it('an allocation that ends leaves its sibling’s mirror; packets to it are the owner’s to judge', async () => {
    const w = await world();
    const [s0, s1] = w.servers as [TurnServer, TurnServer];
    const a = await w.client(3478);
    const b = await w.client(3479);
    await a.c.bindChannel(b.c.relayedAddress);
    await b.c.bindChannel(a.c.relayedAddress);
    const gone = b.c.relayedAddress;
    await b.c.close(); // Refresh 0: server 1 deletes it and tells server 0
    await settle();
    a.c.send(gone, Uint8Array.of(5));
    await settle();
    expect(s0.counters.toSiblingClientPackets).toBe(0);
    expect(s1.counters.toClientPackets).toBe(0);
  });

  it('with per-user caps: no hand-off, but the sibling’s relayed address is still an allowed peer', async () => {
    const w = await world({ userBytesPerSecond: 1_000_000 });
    const [s0, s1] = w.servers as [TurnServer, TurnServer];
    const a = await w.client(3478);
    const b = await w.client(3479);
    // A relay address of ours: allowed only as a relayed transport address a server knows.
    await a.c.bindChannel(b.c.relayedAddress);
    const bToA = await b.c.bindChannel(a.c.relayedAddress);
    await settle();
    b.raw.length = 0;
    a.c.send(b.c.relayedAddress, Uint8Array.of(6));
    await settle();
    // Server 1 relayed it (its user's bucket is there), from its own port.
    expect(b.raw).toEqual([[[bToA >>> 8, bToA & 0xff, 0, 1, 6], { address: RELAY, port: 3479 }]]);
    expect(s0.counters.toSiblingClientPackets).toBe(0);
    expect(s1.counters.toClientPackets).toBe(1);
  });
});
