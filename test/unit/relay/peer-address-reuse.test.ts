/**
 * The data path keeps the last peer address it encoded or decoded per allocation (Data
 * indications: data-indication.ts; Send indications: handlers/send-indication.ts). Packets that
 * alternate between peers — other addresses, the same address on another port — must each reach
 * the right peer, and a remembered peer never stands in for a permission.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Endpoint, UdpSocket } from '../../../src/net/index.js';
import { client, closeWorld, settle, setup, type World } from './turn-world.js';

afterEach(closeWorld);

async function socketsOn(
  w: World,
  address: string,
  ports: number[],
): Promise<{ socket: UdpSocket; got: number[][] }[]> {
  const host = w.net.addHost({ addresses: [address] });
  return Promise.all(
    ports.map(async (port) => {
      const socket = await host.bindUdp({ port });
      w.closers.push(() => socket.close());
      const got: number[][] = [];
      socket.onMessage((d) => got.push([...d]));
      return { socket, got };
    }),
  );
}

describe('TURN server: peers taking turns without channels', () => {
  it('Send indications to alternating peers each reach their own peer', async () => {
    const w = await setup();
    const [p1, p1b] = await socketsOn(w, '198.51.100.31', [5000, 5001]);
    const [p2] = await socketsOn(w, '198.51.100.32', [5000]);
    const [p3] = await socketsOn(w, '198.51.100.33', [5000]);
    const c = await client(w);
    await c.createPermission('198.51.100.31', '198.51.100.32');
    const order = [p1, p2, p1, p1b, p1b, p2, p1, p3, p1]; // p3: no permission
    order.forEach((p, i) => c.send(p!.socket.address(), Uint8Array.of(i)));
    await settle();
    expect(p1!.got).toEqual([[0], [2], [6], [8]]);
    expect(p1b!.got).toEqual([[3], [4]]);
    expect(p2!.got).toEqual([[1], [5]]);
    expect(p3!.got).toEqual([]);
    expect(w.server.counters.dropped['no-permission']).toBe(1);
    expect(w.server.counters.toPeerPackets).toBe(8);
  });

  it('Data indications from alternating peers name each sender', async () => {
    const w = await setup();
    const [p1, p1b] = await socketsOn(w, '198.51.100.41', [5000, 5001]);
    const [p2] = await socketsOn(w, '198.51.100.42', [5000]);
    const c = await client(w);
    await c.createPermission('198.51.100.41', '198.51.100.42');
    const received: [number[], Endpoint][] = [];
    c.onData((d, from) => received.push([[...d], { address: from.address, port: from.port }]));
    const order = [p1, p2, p1, p1b, p1b, p2, p1];
    order.forEach((p, i) => p!.socket.send(Uint8Array.of(i), c.relayedAddress));
    await settle();
    expect(received).toEqual(
      order.map((p, i) => [
        [i],
        { address: p!.socket.address().address, port: p!.socket.address().port },
      ]),
    );
  });
});
