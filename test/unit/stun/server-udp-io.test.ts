/**
 * The STUN server on real loopback sockets, once per UDP I/O (`udpIo`): batched (the udp_mmsg
 * addon, the default) and node:dgram. Every behaviour of the answer path must be the same on
 * both: bare and general Binding answers from many sources at once, IPv6, RFC 5780 answers from
 * the alternate sockets, the per-source rate limit, the reply budget, error answers, counters.
 * Only mmsg drops a datagram longer than its receive slot (counted as `truncated`).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Endpoint, UdpSocket } from '../../../src/net/index.js';
import { nodeUdpNetwork } from '../../../src/net/index.js';
import { MMSG_DEFAULTS } from '../../../src/net/mmsg-socket.js';
import type { StunServerOptions } from '../../../src/stun/index.js';
import {
  Attr,
  BINDING_REQUEST,
  StunClient,
  StunMessageBuilder,
  StunServer,
  decodeStunMessage,
  readErrorCode,
  readXorAddress,
} from '../../../src/stun/index.js';
import { ManualClock } from '../../../src/util/clock.js';
import { TEST_RETRANSMISSION } from '../../support/test-retransmission.js';
import { hasIPv6Loopback, mmsgOrSkip } from '../net/mmsg-support.js';

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

const IPV6 = await hasIPv6Loopback();
const ios = mmsgOrSkip() ? (['mmsg', 'dgram'] as const) : (['dgram'] as const);

async function start(udpIo: 'mmsg' | 'dgram', options: Partial<StunServerOptions> = {}) {
  const server = await StunServer.start({
    listen: { address: '127.0.0.1', port: 0 },
    udpIo,
    ...options,
  });
  cleanup.push(() => server.close());
  return server;
}

async function clientSocket(address = '127.0.0.1') {
  const socket = await nodeUdpNetwork.bindUdp({ address });
  const got: { data: Uint8Array; from: Endpoint }[] = [];
  socket.onMessage((data, from) => got.push({ data: Uint8Array.from(data), from }));
  cleanup.push(() => socket.close());
  return { socket, got };
}

const bare = (): Uint8Array => new StunMessageBuilder(BINDING_REQUEST).build();

function burst(socket: UdpSocket, to: Endpoint, n: number, make = bare): void {
  for (let i = 0; i < n; i++) socket.send(make(), to);
}

describe.each(ios)('StunServer on real sockets, udpIo %s', (udpIo) => {
  it('answers bursts from many sources, each with its own mapped address', async () => {
    const server = await start(udpIo);
    const clients = await Promise.all(Array.from({ length: 8 }, () => clientSocket()));
    // Bare requests (the template path) and general ones (FINGERPRINT) interleaved.
    const general = (): Uint8Array =>
      new StunMessageBuilder(BINDING_REQUEST).addFingerprint().build();
    for (const c of clients) {
      burst(c.socket, server.primary, 10);
      burst(c.socket, server.primary, 10, general);
    }
    for (const c of clients) {
      await expect.poll(() => c.got.length).toBe(20);
      for (const g of c.got) {
        const mapped = readXorAddress(decodeStunMessage(g.data), Attr.XorMappedAddress);
        expect(mapped).toMatchObject({ address: '127.0.0.1', port: c.socket.address().port });
      }
    }
    expect(server.stats).toMatchObject({ received: 160, answered: { binding: 160 } });
  });

  it.skipIf(!IPV6)('answers over IPv6 (::1)', async () => {
    const server = await start(udpIo, { listen: { address: '::1', port: 0 } });
    const socket = await nodeUdpNetwork.bindUdp({ address: '::1' });
    const client = new StunClient({ socket, retransmission: TEST_RETRANSMISSION });
    cleanup.push(
      () => socket.close(),
      () => client.close(),
    );
    const r = await client.binding(server.primary);
    expect(r.mapped).toMatchObject({ address: '::1', port: socket.address().port });
  });

  it('RFC 5780: CHANGE-REQUEST is answered from the alternate address and port', async () => {
    // 127.0.0.2 is loopback too (127/8 on lo).
    const server = await start(udpIo, { alternate: { address: '127.0.0.2', port: 0 } });
    const socket = await nodeUdpNetwork.bindUdp({ address: '127.0.0.1' });
    const client = new StunClient({ socket, retransmission: TEST_RETRANSMISSION });
    cleanup.push(
      () => socket.close(),
      () => client.close(),
    );
    const [, altPort, altAddr, altBoth] = server.addresses();
    for (const [change, from] of [
      [{ port: true }, altPort],
      [{ ip: true }, altAddr],
      [{ ip: true, port: true }, altBoth],
    ] as const) {
      const r = await client.binding(server.primary, {
        changeRequest: change,
        anySource: true,
        padTo: 120,
      });
      expect(r.from).toMatchObject({ address: from!.address, port: from!.port });
      expect(r.otherAddress).toMatchObject({ address: '127.0.0.2', port: altBoth!.port });
    }
    expect(server.stats.answered.change).toBe(3);
  });

  it('rate limit per source, reply budget for all, error answers and drops are counted', async () => {
    const clock = new ManualClock();
    // maxAmplification 1: a bare answer is the mapped address alone, 32 + 28 = 60 bytes on the
    // wire; a 300-byte budget holds five.
    const server = await start(udpIo, {
      clock,
      maxAmplification: 1,
      rateLimit: { perSecond: 1, burst: 4 },
      replyBytesPerSecond: 300,
    });
    const a = await clientSocket();
    burst(a.socket, server.primary, 10);
    await expect.poll(() => server.stats.received).toBe(10);
    await expect.poll(() => a.got.length).toBe(4);
    expect(server.stats.dropped['rate-limited']).toBe(6);
    const b = await clientSocket('127.0.0.2'); // another source (the limit is per address)
    burst(b.socket, server.primary, 3);
    await expect.poll(() => server.stats.received).toBe(13);
    await expect.poll(() => b.got.length).toBe(1); // the budget had 300 - 4 × 60 left
    expect(server.stats.dropped['reply-budget']).toBe(2);

    clock.advance(10_000); // refills both
    const c = await clientSocket('127.0.0.3');
    const allocate = new StunMessageBuilder(0x0003).build(); // TURN Allocate: 400
    c.socket.send(allocate, server.primary);
    c.socket.send(new Uint8Array([0x80, 1, 2, 3]), server.primary); // not STUN: silence
    await expect.poll(() => c.got.length).toBe(1);
    expect(readErrorCode(decodeStunMessage(c.got[0]!.data))?.code).toBe(400);
    await expect.poll(() => server.stats.dropped['not-stun']).toBe(1);
    expect(server.stats.answered).toMatchObject({ binding: 5, error: 1 });
  });

  it('a datagram longer than a receive slot: mmsg counts it truncated, dgram answers it', async () => {
    const server = await start(udpIo);
    const c = await clientSocket();
    const big = new StunMessageBuilder(BINDING_REQUEST)
      .addBytes(Attr.Padding, new Uint8Array(MMSG_DEFAULTS.slotBytes + 100))
      .build();
    c.socket.send(big, server.primary);
    c.socket.send(bare(), server.primary);
    await expect.poll(() => c.got.length).toBe(udpIo === 'mmsg' ? 1 : 2);
    await expect.poll(() => server.stats.dropped.truncated).toBe(udpIo === 'mmsg' ? 1 : 0);
    expect(server.stats.received).toBe(udpIo === 'mmsg' ? 1 : 2);
  });

  it('closes while a flood is being answered', async () => {
    const server = await StunServer.start({ listen: { address: '127.0.0.1', port: 0 }, udpIo });
    const c = await clientSocket();
    burst(c.socket, server.primary, 500);
    await expect.poll(() => server.stats.received).toBeGreaterThan(0);
    await server.close();
    const seen = server.stats.received;
    burst(c.socket, server.primary, 50);
    // Another socket may now hold the port; ours reads nothing more.
    const probe = await clientSocket();
    burst(probe.socket, probe.socket.address(), 1);
    await expect.poll(() => probe.got.length).toBe(1);
    expect(server.stats.received).toBe(seen);
  });
});
