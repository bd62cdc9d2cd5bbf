/**
 * Clients of relay servers that listen on several ports of one in-memory host (the workers of
 * `relay --workers` in the unit tests: siblings, worker-mirrors, sibling-handoff). Each client has
 * a host of its own (198.51.100.10, .11, …), its socket handed to the TurnClient so the test can
 * send raw datagrams from the same 5-tuple, and every datagram it gets kept raw with its source.
 */
import type { Endpoint, MemoryNetwork, UdpSocket } from '../../../src/net/index.js';
import { TurnClient } from '../../../src/relay/client/client.js';
import { mintTurnCredentials } from '../../../src/relay/credentials.js';
import type { ManualClock } from '../../../src/util/clock.js';

export type PortClient = TurnClient & {
  socket: UdpSocket;
  /** Every datagram the client's socket got: bytes and source. */
  raw: [number[], Endpoint][];
};

export function portClients(o: {
  net: MemoryNetwork;
  clock: ManualClock;
  secret: string;
  relay: string;
  closers: (() => Promise<void>)[];
}): (port: number) => Promise<PortClient> {
  let n = 0;
  return async (port) => {
    const creds = mintTurnCredentials(o.secret, `u${n}`, 3600, o.clock.now());
    const socket = await o.net.addHost({ addresses: [`198.51.100.${10 + n++}`] }).bindUdp({});
    const raw: [number[], Endpoint][] = [];
    socket.onMessage((d, from) => raw.push([[...d], { address: from.address, port: from.port }]));
    o.closers.push(() => socket.close());
    const c = await TurnClient.allocate({
      server: { address: o.relay, port },
      ...creds,
      socket,
      clock: o.clock,
    });
    o.closers.push(() => c.close());
    return Object.assign(c, { socket, raw });
  };
}
