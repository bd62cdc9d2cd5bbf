/**
 * Client transactions on the in-memory network with a ManualClock: RFC 8489 §6.2.1 timing,
 * matching, abort, and many servers at once — no sleeps.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Endpoint } from '../../../src/net/index.js';
import { MemoryNetwork, NAT_PRESETS } from '../../../src/net/index.js';
import {
  Attr,
  BINDING_SUCCESS,
  LAN_RETRANSMISSION,
  StunAbortedError,
  StunClient,
  StunMessageBuilder,
  StunServer,
  StunTimeoutError,
  decodeStunMessage,
} from '../../../src/stun/index.js';
import { ManualClock } from '../../../src/util/clock.js';

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function setup() {
  const clock = new ManualClock();
  const net = new MemoryNetwork({ clock });
  const nat = net.addNat({
    publicAddress: '198.51.100.7',
    behavior: NAT_PRESETS['port-restricted'],
  });
  const host = net.addHost({ addresses: ['192.168.1.2'], behind: nat });
  const serverHost = net.addHost({ addresses: ['203.0.113.1'] });
  const socket = await host.bindUdp({ port: 40000 });
  const client = new StunClient({ socket, clock });
  cleanup.push(
    () => socket.close(),
    () => client.close(),
  );
  return { clock, net, nat, host, serverHost, socket, client };
}

async function startServer(
  net: MemoryNetwork,
  clock: ManualClock,
  address: string,
): Promise<StunServer> {
  const host = net.addHost({ addresses: [address] });
  const server = await StunServer.start({ net: host, clock, listen: { address, port: 3478 } });
  cleanup.push(() => server.close());
  return server;
}

describe('StunClient', () => {
  it('learns the NAT-mapped address from a Binding response', async () => {
    const { net, clock, client } = await setup();
    await startServer(net, clock, '203.0.113.9');
    const r = await client.binding({ address: '203.0.113.9', port: 3478 });
    expect(r.mapped).toEqual({ address: '198.51.100.7', port: 40000, family: 'IPv4' });
    expect(r.attempts).toBe(1);
    expect(r.rttMs).toBe(0);
  });

  it('retransmits at 0, 500, 1500, 3500, 7500, 15500, 31500 ms and gives up at 39.5 s (RFC 8489 §6.2.1)', async () => {
    const { net, clock, client } = await setup();
    const start = clock.now();
    const sentAt: number[] = [];
    net.dropIf((p) => {
      if (p.dst.port === 3478) sentAt.push(clock.now() - start);
      return true;
    });
    const done = client.binding({ address: '203.0.113.1', port: 3478 });
    const outcome = done.then(
      () => 'resolved',
      (e: unknown) => e,
    );
    await clock.advanceAsync(39_499);
    expect(sentAt).toEqual([0, 500, 1500, 3500, 7500, 15500, 31500]);
    expect(client.pending).toBe(1);
    await clock.advanceAsync(1);
    const err = await outcome;
    expect(err).toBeInstanceOf(StunTimeoutError);
    expect((err as StunTimeoutError).code).toBe('NATPUSH_ERR_STUN_TIMEOUT');
    expect((err as StunTimeoutError).attempts).toBe(7);
    expect(client.pending).toBe(0);
    expect(clock.pending).toBe(0);
  });

  it('LAN options shorten the schedule', async () => {
    const { net, clock, client } = await setup();
    const sentAt: number[] = [];
    net.dropIf((_p) => (sentAt.push(clock.now()), true));
    const t0 = clock.now();
    const done = client
      .binding({ address: '203.0.113.1', port: 3478 }, { retransmission: LAN_RETRANSMISSION })
      .catch((e: unknown) => e);
    await clock.advanceAsync(1_900);
    expect(sentAt.map((t) => t - t0)).toEqual([0, 100, 300, 700]);
    expect(await done).toBeInstanceOf(StunTimeoutError);
  });

  it('a lost request is answered after retransmission', async () => {
    const { net, clock, client } = await setup();
    await startServer(net, clock, '203.0.113.9');
    let drops = 2;
    net.dropIf((p) => p.dst.port === 3478 && drops-- > 0);
    const done = client.binding({ address: '203.0.113.9', port: 3478 });
    await clock.advanceAsync(1_500);
    const r = await done;
    expect(r.attempts).toBe(3);
    expect(r.rttMs).toBe(1_500);
  });

  it('ignores responses with an unknown transaction id or from the wrong source', async () => {
    const { net, clock, client } = await setup();
    // A fake "server" that answers correctly, plus an attacker on another address that races it
    // with a forged response carrying the right transaction id.
    const real = await net.addHost({ addresses: ['203.0.113.20'] }).bindUdp({ port: 3478 });
    const rogue = await net.addHost({ addresses: ['203.0.113.66'] }).bindUdp({ port: 3478 });
    cleanup.push(
      () => real.close(),
      () => rogue.close(),
    );
    const answer = (tx: Uint8Array, mapped: Endpoint): Uint8Array =>
      new StunMessageBuilder(BINDING_SUCCESS, tx)
        .addXorAddress(Attr.XorMappedAddress, mapped)
        .build();
    real.onMessage((data, from) => {
      const req = decodeStunMessage(data);
      rogue.send(answer(req.transactionId, { address: '6.6.6.6', port: 666 }), from);
      real.send(answer(new Uint8Array(12).fill(9), { address: '6.6.6.6', port: 667 }), from);
      clock.setTimeout(() => real.send(answer(req.transactionId, from), from), 10);
    });
    const done = client.binding({ address: '203.0.113.20', port: 3478 });
    await clock.advanceAsync(10);
    const r = await done;
    expect(r.mapped.address).toBe('198.51.100.7');
    expect(client.stats.ignoredUnknownTransaction).toBe(1);
    // The port-restricted NAT filtered the rogue's packet; the next test lets one through.
    expect(net.dropped.get('filtered')).toBe(1);
  });

  it('drops a forged response from the wrong source even when the NAT lets it in', async () => {
    const clock = new ManualClock();
    const net = new MemoryNetwork({ clock });
    const me = await net.addHost({ addresses: ['203.0.113.5'] }).bindUdp({ port: 5000 });
    const server = await net.addHost({ addresses: ['203.0.113.20'] }).bindUdp({ port: 3478 });
    const rogue = await net.addHost({ addresses: ['203.0.113.66'] }).bindUdp({ port: 3478 });
    const client = new StunClient({ socket: me, clock });
    cleanup.push(
      () => client.close(),
      () => me.close(),
      () => server.close(),
      () => rogue.close(),
    );
    server.onMessage((data, from) => {
      const tx = decodeStunMessage(data).transactionId;
      const bytes = (m: Endpoint): Uint8Array =>
        new StunMessageBuilder(BINDING_SUCCESS, tx).addXorAddress(Attr.XorMappedAddress, m).build();
      rogue.send(bytes({ address: '6.6.6.6', port: 666 }), from);
      clock.setTimeout(() => server.send(bytes(from), from), 5);
    });
    const done = client.binding({ address: '203.0.113.20', port: 3478 });
    await clock.advanceAsync(5);
    expect((await done).mapped).toEqual({ address: '203.0.113.5', port: 5000, family: 'IPv4' });
    expect(client.stats.ignoredWrongSource).toBe(1);
  });

  it('AbortSignal cancels a transaction and its timers', async () => {
    const { net, clock, client } = await setup();
    net.dropIf(() => true);
    const ac = new AbortController();
    const done = client
      .binding({ address: '203.0.113.1', port: 3478 }, { signal: ac.signal })
      .catch((e: unknown) => e);
    await clock.advanceAsync(600);
    ac.abort();
    const err = await done;
    expect(err).toBeInstanceOf(StunAbortedError);
    expect(client.pending).toBe(0);
    expect(clock.pending).toBe(0);
    await expect(
      client.binding({ address: '203.0.113.1', port: 3478 }, { signal: ac.signal }),
    ).rejects.toBeInstanceOf(StunAbortedError);
  });

  it('runs transactions to many servers at once, each settling on its own', async () => {
    const { net, clock, client } = await setup();
    const servers = await Promise.all(
      ['203.0.113.11', '203.0.113.12', '203.0.113.13'].map((a) => startServer(net, clock, a)),
    );
    const dead = { address: '203.0.113.99', port: 3478 };
    const all = Promise.allSettled([
      ...servers.map((s) => client.binding(s.primary)),
      client.binding(dead),
    ]);
    await clock.advanceAsync(40_000);
    const results = await all;
    expect(results.slice(0, 3).map((r) => r.status)).toEqual([
      'fulfilled',
      'fulfilled',
      'fulfilled',
    ]);
    expect(results[3]!.status).toBe('rejected');
    for (const r of results.slice(0, 3)) {
      expect((r as PromiseFulfilledResult<{ mapped: Endpoint }>).value.mapped.address).toBe(
        '198.51.100.7',
      );
    }
  });

  it('fails a Binding whose response carries an unknown comprehension-required attribute (RFC 8489 §6.3.3)', async () => {
    const clock = new ManualClock();
    const net = new MemoryNetwork({ clock });
    const me = await net.addHost({ addresses: ['203.0.113.5'] }).bindUdp({ port: 5000 });
    const server = await net.addHost({ addresses: ['203.0.113.20'] }).bindUdp({ port: 3478 });
    const client = new StunClient({ socket: me, clock });
    cleanup.push(
      () => client.close(),
      () => me.close(),
      () => server.close(),
    );
    server.onMessage((data, from) => {
      const tx = decodeStunMessage(data).transactionId;
      server.send(
        new StunMessageBuilder(BINDING_SUCCESS, tx)
          .addXorAddress(Attr.XorMappedAddress, from)
          .addBytes(0x0077, new Uint8Array(4))
          .build(),
        from,
      );
    });
    const err = await client
      .binding({ address: '203.0.113.20', port: 3478 })
      .catch((e: unknown) => e);
    expect((err as { code: string }).code).toBe('NATPUSH_ERR_STUN_MALFORMED');
    expect((err as Error).message).toMatch(/119/);
  });

  it('close() rejects outstanding transactions', async () => {
    const { net, client } = await setup();
    net.dropIf(() => true);
    const done = client.binding({ address: '203.0.113.1', port: 3478 }).catch((e: unknown) => e);
    client.close();
    expect(((await done) as { code: string }).code).toBe('NATPUSH_ERR_STUN_TRANSPORT');
  });

  it('ignores non-STUN datagrams on a shared socket', async () => {
    const { net, clock, client, socket } = await setup();
    const server = await startServer(net, clock, '203.0.113.9');
    const other: Uint8Array[] = [];
    socket.onMessage((d) => other.push(d));
    // A server that sends TURN ChannelData (first byte 0x40, RFC 7983) and garbage before its
    // answer: not the client's business, and must not disturb the transaction.
    const r = await client.binding(server.primary);
    const fakeServer = await net.addHost({ addresses: ['203.0.113.32'] }).bindUdp({ port: 3478 });
    cleanup.push(() => fakeServer.close());
    fakeServer.onMessage((data, from) => {
      fakeServer.send(new Uint8Array([0x40, 0x00, 0x00, 0x02, 0xaa, 0xbb]), from);
      fakeServer.send(new Uint8Array(30).fill(0x17), from);
      const tx = decodeStunMessage(data).transactionId;
      fakeServer.send(
        new StunMessageBuilder(BINDING_SUCCESS, tx)
          .addXorAddress(Attr.XorMappedAddress, from)
          .build(),
        from,
      );
    });
    const r2 = await client.binding({ address: '203.0.113.32', port: 3478 });
    expect(r2.mapped).toEqual(r.mapped);
    expect(other).toHaveLength(4); // the socket's other user saw everything
    expect(client.stats.ignoredMalformed + client.stats.ignoredUnknownTransaction).toBe(0);
  });
});
