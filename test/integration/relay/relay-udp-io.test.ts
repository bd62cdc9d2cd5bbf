/**
 * The TURN relay on real loopback sockets once per UDP I/O (`natpush relay --udp-io`): batched
 * (the udp_mmsg addon, the default) and node:dgram, for the listener and every relayed socket.
 * The data path must behave the same on both: channels and indications in order without loss,
 * permissions, bandwidth caps and counters; relayed sockets freed with their allocation; a send
 * made outside a batch (a TCP client's) going out at once. Only mmsg drops a datagram longer than
 * its receive slot (counted as `truncated`): that tells the two apart, so these tests fail if the
 * option is ignored.
 */
import dgram from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yargs from 'yargs';
import { afterEach, describe, expect, it } from 'vitest';
import { relayOptions, startRelay, startServeRelay } from '../../../src/cli/commands/relay.js';
import type { Endpoint, UdpSocket } from '../../../src/net/index.js';
import { nodeUdpNetwork } from '../../../src/net/index.js';
import { MMSG_DEFAULTS } from '../../../src/net/mmsg-socket.js';
import { TurnClient } from '../../../src/relay/client/client.js';
import { MIN_BUCKET_BYTES } from '../../../src/relay/constants.js';
import { mintTurnCredentials } from '../../../src/relay/credentials.js';
import type { TurnServer } from '../../../src/relay/server/turn-server.js';
import { relaySchema, turnServerOptions } from '../../../src/server/relay-options.js';
import { serveSchema } from '../../../src/server/serve-options.js';
import { silentLogger } from '../../../src/util/logger.js';
import { mmsgOrSkip } from '../../unit/net/mmsg-support.js';

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of closers.reverse()) await c().catch(() => {});
  closers.length = 0;
});

const ios = mmsgOrSkip() ? (['mmsg', 'dgram'] as const) : (['dgram'] as const);

async function relay(io: 'mmsg' | 'dgram', ...extra: string[]): Promise<TurnServer> {
  const args = relayOptions(yargs()).parseSync([
    '--listen=127.0.0.1',
    '--port=0',
    '--secret=udp-io-secret',
    '--allow-loopback-peers',
    '--log-level=error',
    `--udp-io=${io}`,
    ...extra,
  ]);
  const server = await startRelay(args);
  closers.push(() => server.close());
  return server;
}

async function turn(server: TurnServer, transport: 'udp' | 'tcp', user: string) {
  const a = server.addresses();
  const creds = mintTurnCredentials('udp-io-secret', user, 600);
  const c = await TurnClient.allocate({
    server: transport === 'udp' ? a.udp : a.tcp!,
    transport,
    username: creds.username,
    password: creds.password,
    net: nodeUdpNetwork,
  });
  closers.push(() => c.close());
  return c;
}

async function peerSocket(): Promise<{ socket: UdpSocket; got: Uint8Array[] }> {
  const socket = await nodeUdpNetwork.bindUdp({ address: '127.0.0.1', port: 0 });
  closers.push(() => socket.close());
  const got: Uint8Array[] = [];
  socket.onMessage((d) => got.push(Uint8Array.from(d)));
  return { socket, got };
}

function collect(c: TurnClient): number[] {
  const seen: number[] = [];
  c.onData((d) => seen.push(Buffer.from(d).readUInt32BE(0)));
  return seen;
}

const payload = (i: number, size = 100): Uint8Array => {
  const b = Buffer.alloc(size, i & 0xff);
  b.writeUInt32BE(i, 0);
  return b;
};

/** Whether `port` on 127.0.0.1 can be bound exclusively (its previous socket is closed). */
async function canBind(port: number): Promise<boolean> {
  const s = dgram.createSocket({ type: 'udp4', exclusive: true } as dgram.SocketOptions);
  try {
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.bind({ port, address: '127.0.0.1', exclusive: true }, () => resolve());
    });
    return true;
  } catch {
    return false;
  } finally {
    await new Promise<void>((r) => {
      try {
        s.close(() => r());
      } catch {
        r();
      }
    });
  }
}

describe.each(ios)('TURN relay on real sockets, --udp-io %s', (io) => {
  it('UDP and TCP clients relay through channels both ways, no loss, in order, counted', async () => {
    const server = await relay(io);
    const a = await turn(server, 'udp', 'a');
    const b = await turn(server, 'tcp', 'b');
    const c = await turn(server, 'udp', 'c');
    await a.bindChannel(b.relayedAddress);
    await b.bindChannel(a.relayedAddress);
    await a.bindChannel(c.relayedAddress);
    await c.bindChannel(a.relayedAddress);
    const n = 400;
    const atA = collect(a);
    const atB = collect(b);
    const atC = collect(c);
    for (let i = 0; i < n; i++) {
      a.send(b.relayedAddress, payload(i, 4 + (i % 300)));
      a.send(c.relayedAddress, payload(i, 4 + (i % 200)));
      b.send(a.relayedAddress, payload(i, 4 + (i % 300)));
      if (i % 50 === 49) await new Promise((r) => setImmediate(r));
    }
    await expect.poll(() => atB.length, { timeout: 20_000 }).toBe(n);
    await expect.poll(() => atC.length, { timeout: 20_000 }).toBe(n);
    await expect.poll(() => atA.length, { timeout: 20_000 }).toBe(n);
    expect(atB).toEqual([...Array(n).keys()]);
    expect(atC).toEqual([...Array(n).keys()]);
    expect(atA).toEqual([...Array(n).keys()]);
    expect(server.counters.toPeerPackets).toBe(3 * n);
    expect(server.counters.toClientPackets).toBe(3 * n);
    expect(server.counters.dropped).toMatchObject({ 'send-failed': 0, truncated: 0 });
  });

  it('Send/Data indications with a plain UDP peer; no permission, no relaying (counted)', async () => {
    const server = await relay(io);
    const a = await turn(server, 'udp', 'a');
    const peer = await peerSocket();
    const stranger = await peerSocket();
    const atA: [Uint8Array, Endpoint][] = [];
    a.onData((d, f) => atA.push([Uint8Array.from(d), f]));
    await a.createPermission('127.0.0.1');
    a.send(peer.socket.address(), Uint8Array.of(1, 2, 3));
    await expect.poll(() => peer.got.length, { timeout: 10_000 }).toBe(1);
    expect([...peer.got[0]!]).toEqual([1, 2, 3]);
    peer.socket.send(Uint8Array.of(4, 5), a.relayedAddress);
    await expect.poll(() => atA.length, { timeout: 10_000 }).toBe(1);
    expect([...atA[0]![0]]).toEqual([4, 5]);
    expect(atA[0]![1].port).toBe(peer.socket.address().port);
    // 127.0.0.2 has no permission (loopback is allowed by policy, not by the allocation).
    const other = await nodeUdpNetwork.bindUdp({ address: '127.0.0.2', port: 0 }).catch(() => {
      return undefined;
    });
    if (other) {
      closers.push(() => other.close());
      other.send(Uint8Array.of(9), a.relayedAddress);
      await expect
        .poll(() => server.counters.dropped['no-permission'], { timeout: 10_000 })
        .toBe(1);
    }
    // A permission on 127.0.0.1 covers every port of it (RFC 8656 §9).
    stranger.socket.send(Uint8Array.of(6), a.relayedAddress);
    await expect.poll(() => atA.length, { timeout: 10_000 }).toBe(2);
    expect(server.counters).toMatchObject({ toPeerPackets: 1, toClientPackets: 2 });
  });

  it('a TCP client’s send (outside any UDP batch) reaches a UDP peer with nothing else sent', async () => {
    const server = await relay(io);
    const b = await turn(server, 'tcp', 'b');
    const peer = await peerSocket();
    await b.createPermission('127.0.0.1');
    b.send(peer.socket.address(), Uint8Array.of(7, 7));
    await expect.poll(() => peer.got.length, { timeout: 10_000 }).toBe(1);
    expect([...peer.got[0]!]).toEqual([7, 7]);
    // And back, the peer's datagram read in a batch and written to the TCP stream.
    const atB: Uint8Array[] = [];
    b.onData((d) => atB.push(Uint8Array.from(d)));
    peer.socket.send(Uint8Array.of(8), b.relayedAddress);
    await expect.poll(() => atB.length, { timeout: 10_000 }).toBe(1);
    expect([...atB[0]!]).toEqual([8]);
  });

  it('per-user bandwidth caps drop what exceeds them (counted), as on the other I/O', async () => {
    const server = await relay(io, '--user-bps=100');
    const a = await turn(server, 'udp', 'a');
    const peer = await peerSocket();
    await a.createPermission('127.0.0.1');
    // Twice the bucket's least burst (MIN_BUCKET_BYTES), in steps the loopback buffers hold.
    const n = 2 * Math.ceil(MIN_BUCKET_BYTES / 1000) + 20;
    for (let i = 0; i < n; i++) {
      a.send(peer.socket.address(), payload(i, 1000));
      if (i % 10 === 9) await new Promise((r) => setImmediate(r));
    }
    await expect
      .poll(() => server.counters.toPeerPackets + server.counters.dropped.bandwidth, {
        timeout: 10_000,
      })
      .toBe(n);
    expect(server.counters.dropped.bandwidth).toBeGreaterThan(0);
    await expect
      .poll(() => peer.got.length, { timeout: 10_000 })
      .toBe(server.counters.toPeerPackets);
  });

  it('an allocation’s relayed socket is closed with it: its port can be bound again', async () => {
    const server = await relay(io, '--no-tcp');
    const clients = await Promise.all([0, 1, 2].map((i) => turn(server, 'udp', `u${i}`)));
    const ports = clients.map((c) => c.relayedAddress.port);
    for (const p of ports) expect(await canBind(p)).toBe(false);
    await Promise.all(clients.map((c) => c.close()));
    await expect.poll(() => server.allocationCount, { timeout: 10_000 }).toBe(0);
    for (const p of ports) await expect.poll(() => canBind(p), { timeout: 10_000 }).toBe(true);
    const listen = server.addresses().udp.port;
    expect(await canBind(listen)).toBe(false);
    await server.close();
    expect(await canBind(listen)).toBe(true);
  });

  it(`a datagram longer than ${MMSG_DEFAULTS.slotBytes} bytes: relayed by dgram, dropped and counted by mmsg`, async () => {
    const server = await relay(io);
    const a = await turn(server, 'udp', 'a');
    const peer = await peerSocket();
    await a.createPermission('127.0.0.1');
    const atA: number[] = [];
    a.onData((d) => atA.push(d.length));
    peer.socket.send(new Uint8Array(MMSG_DEFAULTS.slotBytes + 100), a.relayedAddress);
    peer.socket.send(new Uint8Array(10), a.relayedAddress);
    await expect.poll(() => atA.includes(10), { timeout: 10_000 }).toBe(true);
    expect(atA).toEqual(io === 'mmsg' ? [10] : [MMSG_DEFAULTS.slotBytes + 100, 10]);
    expect(server.counters.dropped.truncated).toBe(io === 'mmsg' ? 1 : 0);
  });
});

describe.each(ios)('natpush serve relay, udpIo %s', (io) => {
  it('the listener reads on the I/O asked for (an oversized datagram: truncated or handled)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'natpush-relay-udp-io-'));
    closers.push(async () => rmSync(dir, { recursive: true, force: true }));
    const relay = await startServeRelay({
      dataDir: dir,
      host: '127.0.0.1',
      port: 0,
      udpIo: io,
      logger: silentLogger,
    });
    closers.push(() => relay.server.close());
    const client = await peerSocket();
    // ChannelData (0x40) from a 5-tuple without an allocation, longer than a receive slot.
    const big = new Uint8Array(MMSG_DEFAULTS.slotBytes + 100);
    big[0] = 0x40;
    client.socket.send(big, relay.server.addresses().udp);
    const dropped = relay.server.counters.dropped;
    await expect
      .poll(() => dropped.truncated + dropped['no-allocation'], { timeout: 10_000 })
      .toBe(1);
    expect(dropped.truncated).toBe(io === 'mmsg' ? 1 : 0);
  });
});

describe('udp-io options', () => {
  it('natpush relay --udp-io defaults to mmsg and reaches the TURN server options', () => {
    const o = relaySchema.parse({ secret: 's' });
    expect(o['udp-io']).toBe('mmsg');
    expect(turnServerOptions(o)).toMatchObject({ udpIo: 'mmsg' });
    expect(turnServerOptions({ ...o, 'udp-io': 'dgram' })).toMatchObject({ udpIo: 'dgram' });
    expect(turnServerOptions(o, { net: nodeUdpNetwork })).not.toHaveProperty('udpIo');
    expect(() => relaySchema.parse({ 'udp-io': 'epoll' })).toThrow();
    expect(serveSchema.parse({})['relay-udp-io']).toBe('mmsg');
  });
});
