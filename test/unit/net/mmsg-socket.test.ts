/**
 * MmsgSocket (the udp_mmsg addon) on real loopback sockets, port 0: batches of many datagrams
 * answered with one sendmmsg, IPv4 and IPv6 sources as node:dgram names them, datagrams longer
 * than a slot, misuse, close inside a batch, SO_REUSEPORT.
 */
import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import type { MmsgBatch } from '../../../src/net/mmsg-socket.js';
import { MmsgEndpoint, MmsgSocket } from '../../../src/net/mmsg-socket.js';
import { dgramClient, hasIPv6Loopback, mmsgOrSkip } from './mmsg-support.js';

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

const AVAILABLE = mmsgOrSkip();
const IPV6 = await hasIPv6Loopback();

/** An echo server: every datagram goes back to its source, one flush per batch. */
function echo(address = '127.0.0.1', more: { reusePort?: boolean; port?: number } = {}) {
  const seen: { count: number; from: string[] } = { count: 0, from: [] };
  const s: MmsgSocket = MmsgSocket.open({ address, port: 0, ...more }, (b: MmsgBatch) => {
    for (let i = 0; i < b.count; i++) {
      seen.count++;
      seen.from.push(`${b.family(i)} ${b.address(i)}`);
      if (!b.truncated(i)) s.queue(b.data(i), b.endpoint(i));
    }
    s.flush();
  });
  cleanup.push(() => s.close());
  return { s, seen };
}

async function client(type: 'udp4' | 'udp6' = 'udp4') {
  const c = await dgramClient(type);
  cleanup.push(() => new Promise<void>((r) => c.socket.close(() => r())));
  return c;
}

describe.skipIf(!AVAILABLE)('MmsgSocket', () => {
  it('binds port 0 and answers a burst in batches, one sendmmsg per batch', async () => {
    const { s } = echo();
    const port = s.address().port;
    expect(port).toBeGreaterThan(0);
    expect(s.address().address).toBe('127.0.0.1');
    const c = await client();
    // Queued in the kernel before the loop polls the socket: the first read takes a full batch.
    const N = 150;
    for (let i = 0; i < N; i++) c.socket.send(`datagram ${i}`, port, '127.0.0.1');
    await expect.poll(() => c.got.length).toBe(N);
    expect(new Set(c.got.map((g) => g.data.toString())).size).toBe(N);
    expect(c.got.every((g) => g.port === port)).toBe(true);
    const st = s.stats;
    expect(st).toMatchObject({ received: N, sent: N, truncated: 0, sendDropped: 0, sendErrors: 0 });
    expect(st.batches).toBeLessThan(N); // some batch held more than one datagram
  });

  it.skipIf(!IPV6)(
    'IPv6: ::1, and a dual-stack :: socket names IPv4 sources ::ffff:a.b.c.d',
    async () => {
      const v6 = echo('::1');
      const c6 = await client('udp6');
      c6.socket.send('six', v6.s.address().port, '::1');
      await expect.poll(() => c6.got.length).toBe(1);
      expect(v6.seen.from).toEqual(['IPv6 ::1']);

      const dual = echo('::');
      const c4 = await client('udp4');
      c4.socket.send('four', dual.s.address().port, '127.0.0.1');
      await expect.poll(() => c4.got.length).toBe(1);
      expect(c4.got[0]!.data.toString()).toBe('four');
      expect(dual.seen.from).toEqual(['IPv6 ::ffff:127.0.0.1']); // as node:dgram's rinfo says
      // A plain IPv4 endpoint from a dual-stack socket is sent as ::ffff:127.0.0.1.
      dual.s.queue(Buffer.from('plain'), { address: '127.0.0.1', port: c4.port });
      dual.s.flush();
      await expect.poll(() => c4.got.length).toBe(2);
    },
  );

  it('a datagram longer than a slot is flagged truncated and counted; the next one is whole', async () => {
    const lengths: number[] = [];
    const flags: boolean[] = [];
    const s = MmsgSocket.open({ address: '127.0.0.1', slotBytes: 256 }, (b) => {
      for (let i = 0; i < b.count; i++) {
        lengths.push(b.data(i).length);
        flags.push(b.truncated(i));
      }
    });
    cleanup.push(() => s.close());
    const c = await client();
    c.socket.send(Buffer.alloc(1000, 7), s.address().port, '127.0.0.1');
    c.socket.send(Buffer.alloc(200, 8), s.address().port, '127.0.0.1');
    await expect.poll(() => flags.length).toBe(2);
    expect(flags).toEqual([true, false]);
    expect(lengths).toEqual([256, 200]);
    expect(s.stats.truncated).toBe(1);
  });

  it('misuse throws at once; undeliverable datagrams are counted, never thrown', async () => {
    const { s } = echo();
    const to = { address: '127.0.0.1', port: 9 };
    expect(() => s.queue(new Uint8Array(1), { address: 'localhost', port: 9 })).toThrow(TypeError);
    expect(() => s.queue(new Uint8Array(1), { address: '127.0.0.1', port: 70000 })).toThrow(
      RangeError,
    );
    s.queue(new Uint8Array(70_000), to); // no UDP datagram is that long: EMSGSIZE
    s.queue(new Uint8Array(4), { address: '::1', port: 9 }); // IPv6 from an IPv4 socket
    expect(s.flush()).toBe(0);
    expect(s.stats.sendErrors).toBe(2);
    expect(() => MmsgSocket.open({ address: '127.0.0.1', slots: 0 }, () => {})).toThrow(RangeError);
    expect(() => MmsgSocket.open({ address: 'nowhere' }, () => {})).toThrow(TypeError);
    let inUse: unknown;
    try {
      MmsgSocket.open({ address: '127.0.0.1', port: s.address().port }, () => {});
    } catch (err) {
      inUse = err;
    }
    // As node:dgram reports it (serve names the port that was taken).
    expect(inUse).toMatchObject({
      code: 'EADDRINUSE',
      syscall: 'bind',
      address: '127.0.0.1',
      port: s.address().port,
    });
    const closing = s.close();
    expect(s.close()).toBe(closing); // idempotent
    expect(() => s.queue(new Uint8Array(1), to)).toThrow(TypeError);
    await closing;
  });

  it('closing inside a batch stops reading at once; close() resolves when the port is free', async () => {
    let batches = 0;
    let closed: Promise<void> | undefined;
    const s = MmsgSocket.open({ address: '127.0.0.1' }, (b) => {
      batches++;
      s.queue(b.data(0), b.endpoint(0));
      closed = s.close(); // flushes what was queued, then closes
    });
    const port = s.address().port;
    const c = await client();
    for (let i = 0; i < 300; i++) c.socket.send(`x${i}`, port, '127.0.0.1');
    await expect.poll(() => batches).toBe(1);
    await closed;
    // Bound again at once: the descriptor is closed when the promise resolves.
    await MmsgSocket.open({ address: '127.0.0.1', port }, () => {}).close();
    await expect.poll(() => c.got.length).toBe(1);
    expect(batches).toBe(1);
  });

  it('reusePort: two sockets share a port and together answer every source port', async () => {
    // Not port 0 with SO_REUSEPORT: the kernel may pick a port in another process's reuseport
    // group of this user (src/server/workers/port-pick.ts). An exclusive bind picks it.
    const picked = MmsgSocket.open({ address: '127.0.0.1' }, () => {});
    const port = picked.address().port;
    await picked.close();
    const a = echo('127.0.0.1', { reusePort: true, port });
    const b = echo('127.0.0.1', { reusePort: true, port });
    expect(b.s.address().port).toBe(port);
    expect(() => MmsgSocket.open({ address: '127.0.0.1', port }, () => {})).toThrow(/EADDRINUSE/);
    const clients = await Promise.all(Array.from({ length: 16 }, () => client()));
    for (const c of clients) c.socket.send('hi', port, '127.0.0.1');
    for (const c of clients) await expect.poll(() => c.got.length).toBe(1);
    expect(a.seen.count + b.seen.count).toBe(16);
  });

  it('an endpoint from a batch is an Endpoint as node:dgram reports it', async () => {
    const seen: MmsgEndpoint[] = [];
    const s = MmsgSocket.open({ address: '127.0.0.1' }, (b) => {
      for (let i = 0; i < b.count; i++) seen.push(b.endpoint(i));
    });
    cleanup.push(() => s.close());
    const d = dgram.createSocket('udp4');
    cleanup.push(() => new Promise<void>((r) => d.close(() => r())));
    await new Promise<void>((r) => d.bind(0, '127.0.0.1', () => r()));
    d.send('x', s.address().port, '127.0.0.1');
    await expect.poll(() => seen.length).toBe(1);
    expect(seen[0]).toBeInstanceOf(MmsgEndpoint);
    expect({ ...seen[0], raw: undefined }).toEqual({
      address: '127.0.0.1',
      port: d.address().port,
      family: 'IPv4',
      raw: undefined,
    });
  });
});
