/**
 * Our TURN client against our TURN server on real loopback sockets: UDP and TCP clients, channels
 * and indications, started through the CLI's argument parsing.
 */
import net from 'node:net';
import yargs from 'yargs';
import { afterEach, describe, expect, it } from 'vitest';
import { relayOptions, startRelay } from '../../../src/cli/commands/relay.js';
import type { Endpoint, UdpSocket } from '../../../src/net/index.js';
import { nodeUdpNetwork } from '../../../src/net/index.js';
import { TurnClient } from '../../../src/relay/client/client.js';
import { mintTurnCredentials } from '../../../src/relay/credentials.js';
import type { TurnServer } from '../../../src/relay/server/turn-server.js';
import { isNatpushError } from '../../../src/util/errors.js';

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of closers.reverse()) await c().catch(() => {});
  closers.length = 0;
});

async function relay(
  ...extra: string[]
): Promise<{ server: TurnServer; udp: Endpoint; tcp: Endpoint }> {
  const args = relayOptions(yargs()).parseSync([
    '--listen=127.0.0.1',
    '--port=0',
    '--secret=loopback-secret',
    '--allow-loopback-peers',
    '--log-level=error',
    ...extra,
  ]);
  const server = await startRelay(args);
  closers.push(() => server.close());
  const a = server.addresses();
  return { server, udp: a.udp, tcp: a.tcp! };
}

async function turn(server: Endpoint, transport: 'udp' | 'tcp', user: string): Promise<TurnClient> {
  const creds = mintTurnCredentials('loopback-secret', user, 600);
  const c = await TurnClient.allocate({
    server,
    transport,
    username: creds.username,
    password: creds.password,
    net: nodeUdpNetwork,
  });
  closers.push(() => c.close());
  return c;
}

/** Resolve once `n` payloads arrived, in order. */
function collect(c: TurnClient, n: number): Promise<number[]> {
  const seen: number[] = [];
  return new Promise((resolve) => {
    c.onData((d) => {
      seen.push(Buffer.from(d).readUInt32BE(0));
      if (seen.length === n) resolve(seen);
    });
  });
}

const payload = (i: number, size = 100): Uint8Array => {
  const b = Buffer.alloc(size, i & 0xff);
  b.writeUInt32BE(i, 0);
  return b;
};

describe('TURN on loopback (real sockets)', () => {
  it('a UDP client and a TCP client relay to each other through channels, no loss, in order', async () => {
    const { server, udp, tcp } = await relay();
    const a = await turn(udp, 'udp', 'a');
    const b = await turn(tcp, 'tcp', 'b');
    await a.bindChannel(b.relayedAddress);
    await b.bindChannel(a.relayedAddress);
    const n = 500;
    const atB = collect(b, n);
    const atA = collect(a, n);
    for (let i = 0; i < n; i++) {
      a.send(b.relayedAddress, payload(i, 4 + (i % 300)));
      b.send(a.relayedAddress, payload(i, 4 + (i % 300)));
      if (i % 50 === 49) await new Promise((r) => setImmediate(r));
    }
    expect(await atB).toEqual([...Array(n).keys()]);
    expect(await atA).toEqual([...Array(n).keys()]);
    expect(server.counters.toPeerPackets).toBe(2 * n);
    expect(server.counters.toClientPackets).toBe(2 * n);
    expect(server.allocationCount).toBe(2);
    expect(server.counters.allocationsCreated).toBe(2);
    expect(server.counters.tcpAllocationsCreated).toBe(1);
  });

  it('Send/Data indications between a TURN client and a plain UDP peer', async () => {
    const { udp } = await relay();
    const a = await turn(udp, 'udp', 'a');
    const peer: UdpSocket = await nodeUdpNetwork.bindUdp({ address: '127.0.0.1', port: 0 });
    closers.push(() => peer.close());
    const atPeer = new Promise<Uint8Array>((r) => peer.onMessage((d) => r(Uint8Array.from(d))));
    await a.createPermission('127.0.0.1');
    a.send(peer.address(), Uint8Array.of(1, 2, 3));
    expect([...(await atPeer)]).toEqual([1, 2, 3]);
    const atA = new Promise<[Uint8Array, Endpoint]>((r) =>
      a.onData((d, f) => r([Uint8Array.from(d), f])),
    );
    peer.send(Uint8Array.of(4, 5), a.relayedAddress);
    const [data, from] = await atA;
    expect([...data]).toEqual([4, 5]);
    expect(from.port).toBe(peer.address().port);
  });

  it('closing the TCP connection deletes its allocation (RFC 8656 §3.1); Refresh 0 deletes a UDP one', async () => {
    const { server, udp, tcp } = await relay();
    const a = await turn(tcp, 'tcp', 'a');
    const b = await turn(udp, 'udp', 'b');
    expect(server.allocationCount).toBe(2);
    await a.close();
    await b.close();
    for (let i = 0; i < 1_000 && server.allocationCount > 0; i++)
      await new Promise((r) => setTimeout(r, 10));
    expect(server.allocationCount).toBe(0);
  });

  it('a TCP stream that breaks framing is closed and counted', async () => {
    const { server, tcp } = await relay();
    const sock = net.connect({ host: tcp.address, port: tcp.port });
    closers.push(async () => sock.destroy());
    await new Promise((r) => sock.once('connect', r));
    const closed = new Promise((r) => sock.once('close', r));
    sock.write(Buffer.from([0xc0, 0, 0, 0]));
    await closed;
    expect(server.counters.dropped.malformed).toBe(1);
  });

  it('refuses to start as an open relay, and refuses loopback peers unless allowed', async () => {
    const args = relayOptions(yargs()).parseSync(['--listen=127.0.0.1', '--port=0']);
    await expect(startRelay(args)).rejects.toSatisfy((e) => isNatpushError(e, 'NATPUSH_ERR_USAGE'));
    const strict = relayOptions(yargs()).parseSync([
      '--listen=127.0.0.1',
      '--port=0',
      '--no-tcp',
      '--secret=loopback-secret',
      '--log-level=error',
    ]);
    const server = await startRelay(strict);
    closers.push(() => server.close());
    const c = await turn(server.addresses().udp, 'udp', 'x');
    await expect(c.createPermission('127.0.0.1')).rejects.toSatisfy(
      (e) => isNatpushError(e) && (e as { status?: number }).status === 403,
    );
  });
});
