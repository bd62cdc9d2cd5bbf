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
import { describe, expect, it } from 'vitest';
import type { SiblingExchange, SiblingState } from '../../../src/relay/server/siblings.js';
import { closedAfterEach, RELAY, workerHost } from './worker-host.js';

const settle = (): Promise<void> => new Promise((r) => setImmediate(r));
const closers = closedAfterEach();

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

/**
 * Servers 0 (port 3478) and 1 (port 3479), client a of server 0 and client b of server 1 with
 * a channel each toward the other's relayed address; b's ChannelBind goes while server 1's
 * updates are held if `holdB`. Then b's raw datagrams so far (the answers) are cleared.
 */
async function world(o: { holdB?: boolean; userBytesPerSecond?: number } = {}) {
  const host = workerHost(closers);
  const held = [false, false];
  const [x0, x1] = linked(held);
  const extra =
    o.userBytesPerSecond !== undefined ? { userBytesPerSecond: o.userBytesPerSecond } : {};
  const s0 = await host.start(3478, x0, extra);
  const s1 = await host.start(3479, x1, extra);
  const a = await host.client(3478);
  const b = await host.client(3479);
  await a.bindChannel(b.relayedAddress);
  held[1] = o.holdB ?? false;
  const bToA = await b.bindChannel(a.relayedAddress);
  await settle();
  b.raw.length = 0;
  return { s0, s1, a, b, bToA };
}

describe('relay sibling workers', () => {
  it('hands ChannelData to the sibling’s client directly once its mirror shows the channel', async () => {
    const { s0, s1, a, b, bToA } = await world();
    a.send(b.relayedAddress, Uint8Array.of(1, 2, 3));
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

  it.each([
    {
      // b's ChannelBind is answered, but server 0 has not heard of it yet.
      name: 'a mirror that does not show the channel yet leaves the packet to the relayed sockets',
      o: { holdB: true },
      byte: 7,
    },
    {
      // A relay address of ours: allowed only as a relayed transport address a server knows;
      // server 1 relays it as its user's bucket is there.
      name: 'with per-user caps: no hand-off, but the sibling’s relayed address is still an allowed peer',
      o: { userBytesPerSecond: 1_000_000 },
      byte: 6,
    },
  ])('$name', async ({ o, byte }) => {
    const { s0, s1, a, b, bToA } = await world(o);
    a.send(b.relayedAddress, Uint8Array.of(byte));
    await settle();
    // Server 1 relayed it, from its own port, as the owner of the binding.
    expect(b.raw).toEqual([
      [[bToA >>> 8, bToA & 0xff, 0, 1, byte], { address: RELAY, port: 3479 }],
    ]);
    expect(s0.counters.toSiblingClientPackets).toBe(0);
    expect(s1.counters.toClientPackets).toBe(1);
  });

  it('an allocation that ends leaves its sibling’s mirror; packets to it are the owner’s to judge', async () => {
    const { s0, s1, a, b } = await world();
    const gone = b.relayedAddress;
    await b.close(); // Refresh 0: server 1 deletes it and tells server 0
    await settle();
    a.send(gone, Uint8Array.of(5));
    await settle();
    expect(s0.counters.toSiblingClientPackets).toBe(0);
    expect(s1.counters.toClientPackets).toBe(0);
  });
});
