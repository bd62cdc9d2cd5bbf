/**
 * The TURN server and client on the in-memory network with a manual clock — request errors: peers
 * refused (403/443), 400/437/440/442/420, EVEN-PORT and reservations, ChannelBind rules, quotas,
 * junk. Split from server.test.ts by concern (assertions unchanged); the world is turn-world.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Endpoint } from '../../../src/net/index.js';
import { isTurnClientError } from '../../../src/relay/index.js';
import {
  Attr,
  Method,
  readUnknownAttributes,
  readXorAddress,
  StunClass,
  StunMessageBuilder,
  TransportProtocol,
} from '../../../src/stun/index.js';
import {
  SERVER,
  settle,
  setup,
  peer,
  client,
  Raw,
  allocateRequest,
  code,
  closeWorld,
} from './turn-world.js';

afterEach(closeWorld);

describe('TURN server: request errors', () => {
  const perm = (ip: string, port = 1): StunMessageBuilder =>
    StunMessageBuilder.of(Method.CreatePermission, StunClass.Request).addXorAddress(
      Attr.XorPeerAddress,
      {
        address: ip,
        port,
      },
    );

  it.each([
    '10.0.0.1',
    '192.168.1.1',
    '172.16.5.5',
    '127.0.0.1',
    '100.64.0.1',
    '169.254.1.1',
    '224.0.0.1',
    '0.0.0.0',
  ])('peer %s (private/loopback/CGN/link-local/multicast) → 403', async (ip) => {
    const w = await setup();
    const r = await Raw.allocated(w);
    expect(code(await r.send(r.signed(perm(ip))))).toBe(403);
  });

  it("own address → 403 unless allowed; listening port → 403 always; another client's relayed address is a peer", async () => {
    const w = await setup({ peerPolicy: { allow: ['203.0.113.0/24'] } });
    const r = await Raw.allocated(w);
    expect(code(await r.send(r.signed(perm(SERVER.address, 9999))))).toBeUndefined();
    const bind = (p: Endpoint): StunMessageBuilder =>
      StunMessageBuilder.of(Method.ChannelBind, StunClass.Request)
        .addChannelNumber(0x4000)
        .addXorAddress(Attr.XorPeerAddress, p);
    expect(code(await r.send(r.signed(bind(SERVER))))).toBe(403);

    const w2 = await setup();
    const r2 = await Raw.allocated(w2);
    expect(code(await r2.send(r2.signed(perm(SERVER.address, 9999))))).toBe(403);
    const other = await client(w2, 'other');
    expect(code(await r2.send(r2.signed(bind(other.relayedAddress))))).toBeUndefined();
  });

  it('two clients of the same relay, both behind symmetric NATs, talk through it; Send to our own other ports is dropped', async () => {
    const w = await setup();
    const a = await client(w, 'a');
    const b = await client(w, 'b');
    await a.bindChannel(b.relayedAddress);
    await b.bindChannel(a.relayedAddress);
    const got: number[][] = [];
    const from: Endpoint[] = [];
    b.onData((d, f) => {
      from.push(f);
      got.push([...d]);
    });
    a.send(b.relayedAddress, Uint8Array.of(42));
    await settle();
    expect(got).toEqual([[42]]);
    expect(from[0]).toMatchObject({
      address: a.relayedAddress.address,
      port: a.relayedAddress.port,
    });
    // a has a permission for the relay's IP now; a Send indication to the listener port is refused.
    const before = w.server.counters.dropped['no-permission'];
    a.send(SERVER, Uint8Array.of(0, 1, 0, 0));
    await settle();
    expect(w.server.counters.dropped['no-permission']).toBe(before + 1);
  });

  it('an allow-list opens private ranges for labs', async () => {
    const w = await setup({ peerPolicy: { allow: ['10.0.0.0/8'] } });
    const r = await Raw.allocated(w);
    expect(code(await r.send(r.signed(perm('10.1.2.3'))))).toBeUndefined();
    expect(code(await r.send(r.signed(perm('192.168.0.1'))))).toBe(403);
  });

  it('CreatePermission is all-or-nothing and needs XOR-PEER-ADDRESS (400)', async () => {
    const w = await setup();
    const r = await Raw.allocated(w);
    const both = perm('198.51.100.40').addXorAddress(Attr.XorPeerAddress, {
      address: '10.0.0.1',
      port: 1,
    });
    expect(code(await r.send(r.signed(both)))).toBe(403);
    expect(
      code(
        await r.send(r.signed(StunMessageBuilder.of(Method.CreatePermission, StunClass.Request))),
      ),
    ).toBe(400);
  });

  it('IPv6 peer on an IPv4 allocation → 443; IPv6 relay requested → 440', async () => {
    const w = await setup();
    const r = await Raw.allocated(w);
    expect(code(await r.send(r.signed(perm('2001:db8::1'))))).toBe(443);
    const r2 = await Raw.open(w);
    await r2.challenge();
    const v6 = allocateRequest().addAddressFamily(Attr.RequestedAddressFamily, 'IPv6');
    expect(code(await r2.send(r2.signed(v6)))).toBe(440);
  });

  it('requests without an allocation → 437', async () => {
    const w = await setup();
    const r = await Raw.open(w);
    await r.challenge();
    expect(
      code(await r.send(r.signed(StunMessageBuilder.of(Method.Refresh, StunClass.Request)))),
    ).toBe(437);
    expect(code(await r.send(r.signed(perm('198.51.100.40'))))).toBe(437);
  });

  it('REQUESTED-TRANSPORT missing → 400, TCP → 442; DONT-FRAGMENT → 420 listing it', async () => {
    const w = await setup();
    const r = await Raw.open(w);
    await r.challenge();
    const none = StunMessageBuilder.of(Method.Allocate, StunClass.Request);
    expect(code(await r.send(r.signed(none)))).toBe(400);
    expect(code(await r.send(r.signed(allocateRequest(TransportProtocol.TCP))))).toBe(442);
    const df = await r.send(r.signed(allocateRequest().addFlag(Attr.DontFragment)));
    expect(code(df)).toBe(420);
    expect(readUnknownAttributes(df)).toEqual([Attr.DontFragment]);
    expect(w.server.allocationCount).toBe(0);
  });

  it('EVEN-PORT: even port; with R the next port is reserved for a RESERVATION-TOKEN (30 s)', async () => {
    const w = await setup();
    const r = await Raw.open(w);
    await r.challenge();
    const res = await r.send(r.signed(allocateRequest().addEvenPort(true)));
    const port = readXorAddress(res, Attr.XorRelayedAddress)!.port;
    expect(port % 2).toBe(0);
    const token = res.get(Attr.ReservationToken)!;
    expect(token.length).toBe(8);

    const r2 = await Raw.open(w);
    await r2.challenge();
    const both = allocateRequest().addEvenPort(false).addBytes(Attr.ReservationToken, token);
    expect(code(await r2.send(r2.signed(both)))).toBe(400);
    const unknown = allocateRequest().addBytes(Attr.ReservationToken, new Uint8Array(8));
    expect(code(await r2.send(r2.signed(unknown)))).toBe(508);
    const withToken = await r2.send(
      r2.signed(allocateRequest().addBytes(Attr.ReservationToken, Uint8Array.from(token))),
    );
    expect(readXorAddress(withToken, Attr.XorRelayedAddress)!.port).toBe(port + 1);

    const r3 = await Raw.open(w);
    await r3.challenge();
    const res3 = await r3.send(r3.signed(allocateRequest().addEvenPort(true)));
    const token3 = Uint8Array.from(res3.get(Attr.ReservationToken)!);
    await w.clock.advanceAsync(31_000);
    const r4 = await Raw.open(w);
    await r4.challenge();
    expect(
      code(await r4.send(r4.signed(allocateRequest().addBytes(Attr.ReservationToken, token3)))),
    ).toBe(508);

    const r5 = await Raw.open(w);
    await r5.challenge();
    const even = await r5.send(r5.signed(allocateRequest().addEvenPort(false)));
    expect(readXorAddress(even, Attr.XorRelayedAddress)!.port % 2).toBe(0);
  });

  it('ChannelBind rules: out of range, number reused for another peer, peer on another number → 400', async () => {
    const w = await setup();
    const r = await Raw.allocated(w);
    const bind = (n: number, ip: string, port: number): StunMessageBuilder =>
      StunMessageBuilder.of(Method.ChannelBind, StunClass.Request)
        .addChannelNumber(n)
        .addXorAddress(Attr.XorPeerAddress, { address: ip, port });
    expect(code(await r.send(r.signed(bind(0x3fff, '198.51.100.50', 1))))).toBe(400);
    expect(code(await r.send(r.signed(bind(0x8000, '198.51.100.50', 1))))).toBe(400);
    expect(code(await r.send(r.signed(bind(0x4000, '198.51.100.50', 1))))).toBeUndefined();
    expect(code(await r.send(r.signed(bind(0x4000, '198.51.100.50', 1))))).toBeUndefined(); // refresh
    expect(code(await r.send(r.signed(bind(0x4000, '198.51.100.51', 1))))).toBe(400);
    expect(code(await r.send(r.signed(bind(0x4001, '198.51.100.50', 1))))).toBe(400);
    expect(code(await r.send(r.signed(bind(0x4001, '10.0.0.1', 1))))).toBe(403);
    const missing = StunMessageBuilder.of(Method.ChannelBind, StunClass.Request).addChannelNumber(
      0x4002,
    );
    expect(code(await r.send(r.signed(missing)))).toBe(400);
  });

  it('per-user allocation quota → 486; server capacity → 508', async () => {
    const w = await setup({ maxAllocationsPerUser: 1, maxAllocations: 2 });
    await client(w, 'carol');
    await expect(client(w, 'carol')).rejects.toSatisfy(
      (e) => isTurnClientError(e) && e.status === 486,
    );
    await client(w, 'dave');
    await expect(client(w, 'erin')).rejects.toSatisfy(
      (e) => isTurnClientError(e) && e.status === 508,
    );
    expect(w.server.allocationCount).toBe(2);
  });

  it('per-user bandwidth quota drops excess packets and counts them', async () => {
    const w = await setup({ userBytesPerSecond: 1000 }); // bucket = max(1000, 64 KiB)
    const p = await peer(w, '198.51.100.60');
    const c = await client(w);
    await c.bindChannel(p.socket.address());
    for (let i = 0; i < 80; i++) c.send(p.socket.address(), new Uint8Array(1000));
    await settle();
    expect(p.got.length).toBe(65);
    expect(w.server.counters.dropped.bandwidth).toBe(15);
  });

  it('garbage and stray packets are dropped and counted, never answered', async () => {
    const w = await setup();
    const r = await Raw.open(w);
    r.socket.send(Uint8Array.of(0x40, 0x00, 0x00, 0x04, 1, 2, 3, 4), SERVER); // ChannelData, no allocation
    r.socket.send(Uint8Array.of(0, 1, 0, 0, 1, 2, 3, 4), SERVER); // truncated STUN
    r.socket.send(StunMessageBuilder.of(Method.Binding, StunClass.Success).build(), SERVER);
    await settle();
    expect(w.server.counters.dropped['no-allocation']).toBe(1);
    expect(w.server.counters.dropped.malformed).toBe(1);
    expect(w.server.counters.dropped.unexpected).toBe(1);
  });
});
