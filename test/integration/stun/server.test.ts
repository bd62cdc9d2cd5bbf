/**
 * The STUN server and client on real loopback sockets, UDP and TCP.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { nodeUdpNetwork } from '../../../src/net/index.js';
import {
  Attr,
  BINDING_REQUEST,
  StunClient,
  StunMessageBuilder,
  StunServer,
  decodeStunMessage,
  readXorAddress,
  stunMessageLength,
} from '../../../src/stun/index.js';
import { TEST_RETRANSMISSION } from '../../support/test-retransmission.js';

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

describe('StunServer on loopback', () => {
  it('answers Binding over UDP, with an alternate port for CHANGE-REQUEST', async () => {
    const server = await StunServer.start({
      listen: { address: '127.0.0.1', port: 0 },
      alternate: { port: 0 },
    });
    const socket = await nodeUdpNetwork.bindUdp({ address: '127.0.0.1' });
    const client = new StunClient({ socket, retransmission: TEST_RETRANSMISSION });
    cleanup.push(
      () => server.close(),
      () => socket.close(),
      () => client.close(),
    );
    const r = await client.binding(server.primary, { padTo: 100 });
    expect(r.mapped).toMatchObject({ address: '127.0.0.1', port: socket.address().port });
    expect(r.otherAddress).toMatchObject({
      address: '127.0.0.1',
      port: server.addresses()[1]!.port,
    });
    const changed = await client.binding(server.primary, {
      changeRequest: { port: true },
      anySource: true,
    });
    expect(changed.from.port).toBe(server.addresses()[1]!.port);
    expect(server.stats.answered).toMatchObject({ binding: 1, change: 1 });
  });

  it('answers Binding over IPv6 with an IPv6 XOR-MAPPED-ADDRESS', async () => {
    const server = await StunServer.start({
      listen: { address: '::1', port: 0 },
      alternate: { port: 0 },
    });
    const socket = await nodeUdpNetwork.bindUdp({ address: '::1' });
    const client = new StunClient({ socket, retransmission: TEST_RETRANSMISSION });
    cleanup.push(
      () => server.close(),
      () => socket.close(),
      () => client.close(),
    );
    const r = await client.binding(server.primary, { padTo: 120 });
    expect(r.mapped).toEqual({ address: '::1', port: socket.address().port, family: 'IPv6' });
    expect(r.otherAddress).toMatchObject({ address: '::1', port: server.other!.port });
    expect(r.responseOrigin).toMatchObject({ address: '::1', port: server.primary.port });
  });

  it('answers Binding over TCP, several requests on one connection, split across segments', async () => {
    const server = await StunServer.start({ listen: { address: '127.0.0.1', port: 0 }, tcp: true });
    cleanup.push(() => server.close());
    const at = server.tcpAddress()!;
    expect(at.port).toBe(server.primary.port);
    const sock = net.connect(at.port, at.address);
    cleanup.push(() => sock.destroy());
    await new Promise<void>((resolve, reject) =>
      sock.once('connect', resolve).once('error', reject),
    );
    const reqs = [0, 1, 2].map(() =>
      Buffer.from(new StunMessageBuilder(BINDING_REQUEST).addFingerprint().build()),
    );
    const all = Buffer.concat(reqs);
    const responses: Buffer[] = [];
    let buf = Buffer.alloc(0);
    const done = new Promise<void>((resolve) =>
      sock.on('data', (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk]);
        for (
          let len = stunMessageLength(buf);
          len !== undefined && buf.length >= len;
          len = stunMessageLength(buf)
        ) {
          responses.push(buf.subarray(0, len));
          buf = buf.subarray(len);
        }
        if (responses.length === 3) resolve();
      }),
    );
    sock.write(all.subarray(0, 7));
    sock.write(all.subarray(7, 30));
    sock.write(all.subarray(30));
    await done;
    for (const [i, res] of responses.entries()) {
      const m = decodeStunMessage(res);
      expect(Buffer.from(m.transactionId)).toEqual(reqs[i]!.subarray(8, 20));
      expect(readXorAddress(m, Attr.XorMappedAddress)).toMatchObject({
        address: '127.0.0.1',
        port: sock.localPort,
      });
    }
    expect(server.stats.tcpConnections).toBe(1);
  });

  it('closes a TCP connection that sends garbage', async () => {
    const server = await StunServer.start({ listen: { address: '127.0.0.1', port: 0 }, tcp: true });
    cleanup.push(() => server.close());
    const sock = net.connect(server.tcpAddress()!.port, '127.0.0.1');
    cleanup.push(() => sock.destroy());
    const closed = new Promise<void>((resolve) => sock.on('close', () => resolve()));
    sock.on('error', () => {});
    sock.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    await closed;
    expect(server.stats.dropped['not-stun']).toBe(1);
  });
});
