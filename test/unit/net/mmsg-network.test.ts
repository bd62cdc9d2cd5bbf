/**
 * The UdpNetwork on batched sockets (mmsg-network.ts), real loopback sockets: copies or lends
 * the received bytes, flushes sends made outside a batch, reports drops as UdpDropError, leaves
 * node:cluster sharing to node:dgram.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Endpoint, UdpBindOptions, UdpNetwork, UdpSocket } from '../../../src/net/index.js';
import { nodeUdpNetwork } from '../../../src/net/index.js';
import {
  UdpDropError,
  createMmsgUdpNetwork,
  selectUdpNetwork,
} from '../../../src/net/mmsg-network.js';
import { mmsgOrSkip } from './mmsg-support.js';

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function bound(net: UdpNetwork, opts: UdpBindOptions = { address: '127.0.0.1' }) {
  const socket = await net.bindUdp(opts);
  const got: { data: Uint8Array; from: Endpoint }[] = [];
  const errors: Error[] = [];
  socket.onMessage((data, from) => got.push({ data, from }));
  socket.onError((err) => errors.push(err));
  cleanup.push(() => socket.close());
  return { socket, got, errors };
}

describe.skipIf(!mmsgOrSkip())('createMmsgUdpNetwork', () => {
  it('gives each listener a copy by default, and views of one buffer with lendViews', async () => {
    const sender = await bound(nodeUdpNetwork);
    for (const lendViews of [false, true]) {
      const r = await bound(createMmsgUdpNetwork({ lendViews }));
      for (let i = 0; i < 3; i++) sender.socket.send(Buffer.from(`m${i}`), r.socket.address());
      await expect.poll(() => r.got.length).toBe(3);
      const buffers = new Set(r.got.map((g) => g.data.buffer));
      expect(buffers.size).toBe(lendViews ? 1 : 3);
      if (!lendViews) {
        expect(r.got.map((g) => Buffer.from(g.data).toString())).toEqual(['m0', 'm1', 'm2']);
      }
      expect(r.got[0]!.from).toMatchObject({
        address: '127.0.0.1',
        port: sender.socket.address().port,
      });
    }
  });

  it('shareReceiveBuffers: every socket reads into one buffer, and each listener still gets its own bytes', async () => {
    const sender = await bound(nodeUdpNetwork);
    // lendViews shows where the bytes were read: one buffer for both sockets.
    const lent = createMmsgUdpNetwork({ lendViews: true, shareReceiveBuffers: true, slots: 8 });
    const [a, b] = [await bound(lent), await bound(lent)];
    sender.socket.send(Buffer.from('to a'), a.socket.address());
    sender.socket.send(Buffer.from('to b'), b.socket.address());
    await expect.poll(() => a.got.length + b.got.length).toBe(2);
    expect(a.got[0]!.data.buffer).toBe(b.got[0]!.data.buffer);
    // Copies (the default): interleaved traffic to several sockets arrives whole at each, and a
    // copy is not overwritten by the other sockets' later batches.
    const net = createMmsgUdpNetwork({ shareReceiveBuffers: true, slots: 8 });
    const rs = [await bound(net), await bound(net), await bound(net)];
    const N = 60;
    for (let i = 0; i < N; i++) {
      for (const [k, r] of rs.entries()) {
        sender.socket.send(Buffer.from(`s${k}:${i}:${'x'.repeat(i)}`), r.socket.address());
      }
    }
    await expect.poll(() => rs.map((r) => r.got.length), { timeout: 10_000 }).toEqual([N, N, N]);
    for (const [k, r] of rs.entries()) {
      const want = Array.from({ length: N }, (_, i) => `s${k}:${i}:${'x'.repeat(i)}`);
      expect(r.got.map((g) => Buffer.from(g.data).toString()).sort()).toEqual(want.sort());
    }
  });

  it('sends made outside a batch go out at the end of the task', async () => {
    const net = createMmsgUdpNetwork();
    const a = await bound(net);
    const b = await bound(nodeUdpNetwork);
    await new Promise((r) => setTimeout(r, 1)); // not inside any batch
    a.socket.send(Buffer.from('one'), b.socket.address());
    a.socket.send(Buffer.from('two'), b.socket.address());
    await expect.poll(() => b.got.length).toBe(2);
    expect(b.got.map((g) => Buffer.from(g.data).toString())).toEqual(['one', 'two']);
  });

  it('an answer the kernel refuses is reported as UdpDropError send-failed, not thrown', async () => {
    const a = await bound(createMmsgUdpNetwork());
    const b = await bound(nodeUdpNetwork);
    a.socket.send(new Uint8Array(70_000), b.socket.address()); // longer than any UDP datagram
    await expect.poll(() => a.errors.length).toBe(1);
    expect(a.errors[0]).toBeInstanceOf(UdpDropError);
    expect(a.errors[0]).toMatchObject({
      code: 'NATPUSH_ERR_UDP_DROPPED',
      reason: 'send-failed',
      count: 1,
    });
    a.socket.send(Buffer.from('fine'), b.socket.address());
    await expect.poll(() => b.got.length).toBe(1);
    expect(a.errors.length).toBe(1);
  });

  it("leaves share: 'cluster' binds to the fallback (node:cluster shares libuv's handle)", async () => {
    const asked: UdpBindOptions[] = [];
    const fallback: UdpNetwork = {
      bindUdp: (o?: UdpBindOptions): Promise<UdpSocket> => {
        asked.push(o ?? {});
        return nodeUdpNetwork.bindUdp({ ...o, share: undefined });
      },
    };
    const net = createMmsgUdpNetwork({ fallback });
    await bound(net, { address: '127.0.0.1', share: 'cluster' });
    await bound(net, { address: '127.0.0.1', share: 'reuseport' });
    expect(asked).toEqual([{ address: '127.0.0.1', share: 'cluster' }]);
  });

  it("selectUdpNetwork('dgram') is node:dgram", () => {
    expect(selectUdpNetwork('dgram')).toBe(nodeUdpNetwork);
    expect(selectUdpNetwork('mmsg')).not.toBe(nodeUdpNetwork);
  });
});
