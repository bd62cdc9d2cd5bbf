/**
 * The TURN server and client on the in-memory network with a manual clock — allocation and
 * relaying: data both ways, lifetimes, retransmitted Allocate, ALTERNATE-SERVER, Binding. Split
 * from server.test.ts by concern (assertions unchanged); the world is turn-world.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Endpoint } from '../../../src/net/index.js';
import type { StunMessage } from '../../../src/stun/index.js';
import { TurnClient } from '../../../src/relay/client/client.js';
import { mintTurnCredentials, sharedSecret } from '../../../src/relay/credentials.js';
import { createRelayServer } from '../../../src/relay/server/turn-server.js';
import {
  Attr,
  decodeStunMessage,
  Method,
  readAddress,
  readLifetime,
  readXorAddress,
  StunClass,
  StunMessageBuilder,
  verifyIntegrity,
} from '../../../src/stun/index.js';
import {
  SERVER,
  SECRET,
  settle,
  setup,
  peer,
  clientHost,
  client,
  Raw,
  allocateRequest,
  code,
  closeWorld,
} from './turn-world.js';

afterEach(closeWorld);

describe('TURN server: allocation and relaying', () => {
  it('a client behind a symmetric NAT allocates, binds a channel and exchanges data both ways', async () => {
    const w = await setup({ peerPolicy: {} });
    const p = await peer(w, '198.51.100.20');
    const c = await client(w);
    expect(c.relayedAddress.address).toBe(SERVER.address);
    expect(c.lifetimeSeconds).toBe(600);
    expect(w.server.allocationCount).toBe(1);

    await c.bindChannel(p.socket.address());
    c.send(p.socket.address(), Uint8Array.of(1, 2, 3));
    await settle();
    expect(p.got.map((d) => [...d])).toEqual([[1, 2, 3]]);

    const received: [number[], Endpoint][] = [];
    c.onData((d, from) => received.push([[...d], from]));
    p.socket.send(Uint8Array.of(9, 8), c.relayedAddress);
    await settle();
    expect(received).toEqual([[[9, 8], { address: '198.51.100.20', port: 5000 }]]);
    expect(w.server.counters.toPeerPackets).toBe(1);
    expect(w.server.counters.toClientPackets).toBe(1);
  });

  it('without a channel: CreatePermission, Send indication out, Data indication in', async () => {
    const w = await setup();
    const p = await peer(w, '198.51.100.21');
    const c = await client(w);
    await c.createPermission('198.51.100.21');
    c.send(p.socket.address(), Uint8Array.of(7));
    await settle();
    expect(p.got.map((d) => [...d])).toEqual([[7]]);
    const received: number[][] = [];
    c.onData((d) => received.push([...d]));
    p.socket.send(Uint8Array.of(6, 6), c.relayedAddress);
    await settle();
    expect(received).toEqual([[6, 6]]);
  });

  it('drops peer data without a permission and counts the reason', async () => {
    const w = await setup();
    const p = await peer(w, '198.51.100.22');
    const c = await client(w);
    const received: number[][] = [];
    c.onData((d) => received.push([...d]));
    p.socket.send(Uint8Array.of(1), c.relayedAddress);
    c.send(p.socket.address(), Uint8Array.of(2)); // Send indication without permission
    await settle();
    expect(received).toEqual([]);
    expect(p.got).toEqual([]);
    expect(w.server.counters.dropped['no-permission']).toBe(2);
  });

  it('the client keeps allocation, permission and channel alive for an hour; without refresh they expire', async () => {
    const w = await setup();
    const p = await peer(w, '198.51.100.23');
    const c = await client(w);
    await c.bindChannel(p.socket.address());
    for (let t = 0; t < 3600; t += 30) {
      await w.clock.advanceAsync(30_000);
      await settle();
    }
    expect(c.stats.refreshFailures).toBe(0);
    expect(w.server.allocationCount).toBe(1);
    p.socket.send(Uint8Array.of(5), c.relayedAddress);
    c.send(p.socket.address(), Uint8Array.of(4));
    await settle();
    expect(p.got.map((d) => [...d])).toEqual([[4]]);
    expect(w.server.counters.toClientPackets).toBe(1);

    // A raw allocation that nobody refreshes is gone after its 600 s (+ one sweep interval).
    await Raw.allocated(w);
    expect(w.server.allocationCount).toBe(2);
    await w.clock.advanceAsync(605_000);
    await settle();
    expect(w.server.allocationCount).toBe(1);
    expect(w.server.counters.allocationsExpired).toBe(1);
  });

  it('lifetime: default 600, min(requested, 3600), never below default; Refresh 0 deletes', async () => {
    const w = await setup();
    const r = await Raw.open(w);
    await r.challenge();
    const res = await r.send(r.signed(allocateRequest().addUint32(Attr.Lifetime, 99_999)));
    expect(readLifetime(res)).toBe(3600);
    expect(verifyIntegrity(res, r.key)).toBe(true);
    const short = await r.send(
      r.signed(
        StunMessageBuilder.of(Method.Refresh, StunClass.Request).addUint32(Attr.Lifetime, 60),
      ),
    );
    expect(readLifetime(short)).toBe(60);
    const del = await r.send(
      r.signed(
        StunMessageBuilder.of(Method.Refresh, StunClass.Request).addUint32(Attr.Lifetime, 0),
      ),
    );
    expect(readLifetime(del)).toBe(0);
    expect(w.server.allocationCount).toBe(0);

    const r2 = await Raw.open(w);
    await r2.challenge();
    expect(
      readLifetime(await r2.send(r2.signed(allocateRequest().addUint32(Attr.Lifetime, 30)))),
    ).toBe(600);
  });

  it('an allocation past its lifetime is gone even before the sweep: Refresh → 437, ChannelData dropped', async () => {
    const w = await setup({ sweepIntervalMs: 3_600_000 });
    const r = await Raw.allocated(w);
    await w.clock.advanceAsync(600_000);
    r.socket.send(Uint8Array.of(0x40, 0, 0, 1, 9), SERVER);
    await settle();
    expect(w.server.counters.dropped['no-allocation']).toBe(1);
    const res = await r.send(r.signed(StunMessageBuilder.of(Method.Refresh, StunClass.Request)));
    expect(code(res)).toBe(437);
    expect(w.server.allocationCount).toBe(0);
  });

  it('a retransmitted Allocate gets the same answer; another Allocate on the 5-tuple gets 437', async () => {
    const w = await setup();
    const r = await Raw.open(w);
    await r.challenge();
    const req = r.signed(allocateRequest());
    const bytes = Uint8Array.from(req.build());
    const first = await r.send({ build: () => bytes } as StunMessageBuilder);
    const again = await r.send({ build: () => bytes } as StunMessageBuilder);
    expect(readXorAddress(again, Attr.XorRelayedAddress)).toEqual(
      readXorAddress(first, Attr.XorRelayedAddress),
    );
    expect(code(await r.send(r.signed(allocateRequest())))).toBe(437);
    expect(w.server.allocationCount).toBe(1);
  });

  it("on the peer's shared socket: relays, then close() leaves the socket to its other users", async () => {
    const w = await setup();
    const p = await peer(w, '198.51.100.24');
    const socket = await clientHost(w).bindUdp({ port: 0 });
    w.closers.push(() => socket.close());
    const creds = mintTurnCredentials(SECRET, 'shared', 3600, w.clock.now());
    const c = await TurnClient.allocate({ server: SERVER, socket, clock: w.clock, ...creds });
    const viaRelay: number[][] = [];
    c.onData((d) => viaRelay.push([...d]));
    await c.createPermission('198.51.100.24');
    p.socket.send(Uint8Array.of(0x80, 2), c.relayedAddress);
    await settle();
    expect(viaRelay).toEqual([[0x80, 2]]);
    await c.close();
    expect(socket.closed).toBe(false);
    expect(w.server.allocationCount).toBe(0);
    // Another user of the socket (a STUN check) still works on it.
    const answered = new Promise<StunMessage>((r) =>
      socket.onMessage((d) => r(decodeStunMessage(Uint8Array.from(d)))),
    );
    socket.send(StunMessageBuilder.of(Method.Binding, StunClass.Request).build(), SERVER);
    await settle();
    expect((await answered).cls).toBe(StunClass.Success);
  });

  it('a director answers Allocate with 300 Try Alternate (ALTERNATE-SERVER, signed); the client follows', async () => {
    const w = await setup({ alternateServers: [{ address: '203.0.113.2', port: 3478 }] });
    const worker = await createRelayServer({
      net: w.net.addHost({ addresses: ['203.0.113.2'] }),
      clock: w.clock,
      listenAddress: '203.0.113.2',
      port: 3478,
      relayAddress: '203.0.113.2',
      credentials: sharedSecret(SECRET),
    });
    w.closers.push(() => worker.close());
    const r = await Raw.open(w);
    await r.challenge();
    const res = await r.send(r.signed(allocateRequest()));
    expect(code(res)).toBe(300);
    expect(readAddress(res, Attr.AlternateServer)).toMatchObject({
      address: '203.0.113.2',
      port: 3478,
    });
    expect(verifyIntegrity(res, r.key)).toBe(true);
    const c = await client(w, 'redirected');
    expect(c.server).toMatchObject({ address: '203.0.113.2', port: 3478 });
    expect(c.relayedAddress.address).toBe('203.0.113.2');
    expect(w.server.allocationCount).toBe(0);
    expect(worker.allocationCount).toBe(1);
  });

  it('Binding requests are answered without credentials (RFC 8656 §4)', async () => {
    const w = await setup();
    const r = await Raw.open(w);
    const res = await r.send(StunMessageBuilder.of(Method.Binding, StunClass.Request));
    expect(res.cls).toBe(StunClass.Success);
    expect(readXorAddress(res, Attr.XorMappedAddress)?.address).toMatch(/^198\.51\.100\./);
  });
});
