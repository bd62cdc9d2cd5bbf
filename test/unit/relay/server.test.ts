/**
 * The TURN server and client on the in-memory network with a manual clock: every method, every
 * error path, lifetimes, and the relay never being open.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Endpoint, UdpSocket } from '../../../src/net/index.js';
import { MemoryNetwork, NAT_PRESETS } from '../../../src/net/index.js';
import { TurnClient } from '../../../src/relay/client/client.js';
import { mintTurnCredentials, sharedSecret, staticUsers } from '../../../src/relay/credentials.js';
import { isTurnClientError } from '../../../src/relay/index.js';
import type { TurnServerOptions } from '../../../src/relay/server/options.js';
import { createRelayServer, type TurnServer } from '../../../src/relay/server/turn-server.js';
import type { StunMessage } from '../../../src/stun/index.js';
import {
  Attr,
  decodeStunMessage,
  longTermKey,
  Method,
  readAddress,
  readErrorCode,
  readLifetime,
  readString,
  readUnknownAttributes,
  readXorAddress,
  StunClass,
  StunMessageBuilder,
  TransportProtocol,
  verifyIntegrity,
} from '../../../src/stun/index.js';
import { ManualClock } from '../../../src/util/clock.js';

const SERVER: Endpoint = { address: '203.0.113.1', port: 3478 };
const SECRET = 'test-secret';

/** Lets every queued microtask and I/O callback run (the memory network delivers on microtasks). */
const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

interface World {
  clock: ManualClock;
  net: MemoryNetwork;
  server: TurnServer;
  closers: (() => Promise<void>)[];
}

let world: World | undefined;

afterEach(async () => {
  for (const c of world?.closers.reverse() ?? []) await c();
  world = undefined;
});

async function setup(extra: Partial<TurnServerOptions> = {}): Promise<World> {
  const clock = new ManualClock();
  const net = new MemoryNetwork({ clock });
  const host = net.addHost({ addresses: [SERVER.address] });
  const server = await createRelayServer({
    net: host,
    clock,
    listenAddress: SERVER.address,
    port: SERVER.port,
    relayAddress: SERVER.address,
    credentials: sharedSecret(SECRET),
    ...extra,
  });
  world = { clock, net, server, closers: [() => server.close()] };
  return world;
}

/** A peer on the internet side with a socket that records what it receives. */
async function peer(w: World, address: string): Promise<{ socket: UdpSocket; got: Uint8Array[] }> {
  const socket = await w.net.addHost({ addresses: [address] }).bindUdp({ port: 5000 });
  const got: Uint8Array[] = [];
  socket.onMessage((d) => got.push(Uint8Array.from(d)));
  w.closers.push(() => socket.close());
  return { socket, got };
}

let natCount = 0;
/** A client host behind a NAT of the given preset. */
function clientHost(w: World, preset: keyof typeof NAT_PRESETS = 'symmetric') {
  natCount++;
  const nat = w.net.addNat({
    publicAddress: `198.51.100.${100 + natCount}`,
    behavior: NAT_PRESETS[preset],
  });
  return w.net.addHost({ addresses: [`192.168.${natCount}.2`], behind: nat });
}

async function client(
  w: World,
  userId = 'alice',
  extra: { lifetimeSeconds?: number } = {},
): Promise<TurnClient> {
  const creds = mintTurnCredentials(SECRET, userId, 86_400, w.clock.now());
  const c = await TurnClient.allocate({
    server: SERVER,
    username: creds.username,
    password: creds.password,
    net: clientHost(w),
    clock: w.clock,
    ...extra,
  });
  w.closers.push(() => c.close());
  return c;
}

/** Raw STUN requests from a bare socket, for error paths a well-behaved client never takes. */
class Raw {
  realm = '';
  nonce = '';
  key: Uint8Array = new Uint8Array();
  private waiting: ((m: StunMessage) => void) | undefined;

  constructor(
    readonly socket: UdpSocket,
    private readonly username: string,
    private readonly password: string,
  ) {
    socket.onMessage((d) => {
      if ((d[0] ?? 0xff) > 3) return;
      const m = decodeStunMessage(Uint8Array.from(d));
      this.waiting?.(m);
    });
  }

  static async open(w: World, userId = 'raw'): Promise<Raw> {
    const socket = await clientHost(w, 'port-restricted').bindUdp({ port: 0 });
    w.closers.push(() => socket.close());
    const creds = mintTurnCredentials(SECRET, userId, 86_400, w.clock.now());
    return new Raw(socket, creds.username, creds.password);
  }

  async send(b: StunMessageBuilder): Promise<StunMessage> {
    const got = new Promise<StunMessage>((resolve) => (this.waiting = resolve));
    this.socket.send(b.build(), SERVER);
    await settle();
    return got;
  }

  /** Learn REALM/NONCE from a 401. */
  async challenge(): Promise<void> {
    const res = await this.send(allocateRequest());
    this.realm = readString(res, Attr.Realm)!;
    this.nonce = readString(res, Attr.Nonce)!;
    this.key = longTermKey(this.username, this.realm, this.password);
  }

  signed(
    b: StunMessageBuilder,
    opts: { nonce?: string; key?: Uint8Array; username?: string } = {},
  ): StunMessageBuilder {
    return b
      .addString(Attr.Username, opts.username ?? this.username)
      .addString(Attr.Realm, this.realm)
      .addString(Attr.Nonce, opts.nonce ?? this.nonce)
      .addIntegrity(opts.key ?? this.key);
  }
}

function allocateRequest(transport: number = TransportProtocol.UDP): StunMessageBuilder {
  return StunMessageBuilder.of(Method.Allocate, StunClass.Request).addRequestedTransport(transport);
}

const code = (m: StunMessage): number | undefined => readErrorCode(m)?.code;

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
    const r = await Raw.open(w);
    await r.challenge();
    expect(code(await r.send(r.signed(allocateRequest())))).toBeUndefined();
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
    const r = await Raw.open(w);
    await r.challenge();
    expect(code(await r.send(r.signed(allocateRequest())))).toBeUndefined();
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

describe('TURN server: authentication (RFC 8489 §9.2)', () => {
  it('no credentials → 401 with REALM and NONCE, without MESSAGE-INTEGRITY', async () => {
    const w = await setup({ realm: 'example.org' });
    const r = await Raw.open(w);
    const res = await r.send(allocateRequest());
    expect(code(res)).toBe(401);
    expect(readString(res, Attr.Realm)).toBe('example.org');
    expect(readString(res, Attr.Nonce)?.length).toBeGreaterThan(16);
    expect(res.has(Attr.MessageIntegrity)).toBe(false);
    expect(w.server.allocationCount).toBe(0);
  });

  it('stale nonce → 438 with a fresh nonce; the client retries on its own', async () => {
    const w = await setup({ nonceTtlSeconds: 60 });
    const r = await Raw.open(w);
    await r.challenge();
    await w.clock.advanceAsync(61_000);
    const res = await r.send(r.signed(allocateRequest()));
    expect(code(res)).toBe(438);
    const fresh = readString(res, Attr.Nonce);
    expect(fresh).not.toBe(r.nonce);
    expect(code(await r.send(r.signed(allocateRequest(), { nonce: fresh })))).toBeUndefined();

    const c = await client(w);
    await w.clock.advanceAsync(61_000);
    await c.createPermission('198.51.100.30');
    expect(c.stats.staleNonceRetries).toBe(1);
  });

  it('a nonce minted for another client address → 438', async () => {
    const w = await setup();
    const a = await Raw.open(w);
    const b = await Raw.open(w);
    await a.challenge();
    await b.challenge();
    expect(code(await b.send(b.signed(allocateRequest(), { nonce: a.nonce })))).toBe(438);
  });

  it('wrong password, unknown user, expired REST credentials → 401', async () => {
    const w = await setup();
    const r = await Raw.open(w);
    await r.challenge();
    const wrongKey = longTermKey('x', r.realm, 'nope');
    expect(code(await r.send(r.signed(allocateRequest(), { key: wrongKey })))).toBe(401);
    const expired = mintTurnCredentials(SECRET, 'old', 10, w.clock.now() - 3_600_000);
    const expiredKey = longTermKey(expired.username, r.realm, expired.password);
    expect(
      code(
        await r.send(r.signed(allocateRequest(), { username: expired.username, key: expiredKey })),
      ),
    ).toBe(401);
    await expect(
      TurnClient.allocate({
        server: SERVER,
        username: '1:x',
        password: 'bad',
        net: clientHost(w),
        clock: w.clock,
      }),
    ).rejects.toSatisfy((e) => isTurnClientError(e) && e.status === 401);
    expect(w.server.allocationCount).toBe(0);
  });

  it('a malformed attribute (USERNAME not UTF-8) → 400, not a server error', async () => {
    const w = await setup();
    const r = await Raw.open(w);
    await r.challenge();
    const b = allocateRequest()
      .addBytes(Attr.Username, Uint8Array.of(0xff, 0xfe))
      .addString(Attr.Realm, r.realm)
      .addString(Attr.Nonce, r.nonce)
      .addIntegrity(r.key);
    expect(code(await r.send(b))).toBe(400);
    expect(w.server.counters.dropped.malformed).toBe(1);
  });

  it('integrity without USERNAME/REALM/NONCE → 400', async () => {
    const w = await setup();
    const r = await Raw.open(w);
    await r.challenge();
    const res = await r.send(allocateRequest().addIntegrity(r.key));
    expect(code(res)).toBe(400);
  });

  it('static users (coturn lt-cred-mech style) and MESSAGE-INTEGRITY-SHA256 answered in kind', async () => {
    const w = await setup({ credentials: staticUsers({ bob: 'pw' }) });
    const socket = await clientHost(w).bindUdp({ port: 0 });
    w.closers.push(() => socket.close());
    const r = new Raw(socket, 'bob', 'pw');
    await r.challenge();
    const b = allocateRequest()
      .addString(Attr.Username, 'bob')
      .addString(Attr.Realm, r.realm)
      .addString(Attr.Nonce, r.nonce)
      .addIntegritySha256(r.key);
    const res = await r.send(b);
    expect(res.cls).toBe(StunClass.Success);
    expect(res.has(Attr.MessageIntegritySha256)).toBe(true);
    expect(verifyIntegrity(res, r.key, 'sha256')).toBe(true);
  });

  it('a request on an allocation made by another user → 441', async () => {
    const w = await setup({ credentials: staticUsers({ bob: 'pw', eve: 'pw2' }) });
    const socket = await clientHost(w).bindUdp({ port: 0 });
    w.closers.push(() => socket.close());
    const r = new Raw(socket, 'bob', 'pw');
    await r.challenge();
    expect(code(await r.send(r.signed(allocateRequest())))).toBeUndefined();
    const eveKey = longTermKey('eve', r.realm, 'pw2');
    const res = await r.send(
      r.signed(StunMessageBuilder.of(Method.Refresh, StunClass.Request), {
        username: 'eve',
        key: eveKey,
      }),
    );
    expect(code(res)).toBe(441);
  });
});

describe('TURN server: request errors', () => {
  async function allocated(w: World): Promise<Raw> {
    const r = await Raw.open(w);
    await r.challenge();
    expect(code(await r.send(r.signed(allocateRequest())))).toBeUndefined();
    return r;
  }

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
    const r = await allocated(w);
    expect(code(await r.send(r.signed(perm(ip))))).toBe(403);
  });

  it("own address → 403 unless allowed; listening port → 403 always; another client's relayed address is a peer", async () => {
    const w = await setup({ peerPolicy: { allow: ['203.0.113.0/24'] } });
    const r = await allocated(w);
    expect(code(await r.send(r.signed(perm(SERVER.address, 9999))))).toBeUndefined();
    const bind = (p: Endpoint): StunMessageBuilder =>
      StunMessageBuilder.of(Method.ChannelBind, StunClass.Request)
        .addChannelNumber(0x4000)
        .addXorAddress(Attr.XorPeerAddress, p);
    expect(code(await r.send(r.signed(bind(SERVER))))).toBe(403);

    const w2 = await setup();
    const r2 = await allocated(w2);
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
    const r = await allocated(w);
    expect(code(await r.send(r.signed(perm('10.1.2.3'))))).toBeUndefined();
    expect(code(await r.send(r.signed(perm('192.168.0.1'))))).toBe(403);
  });

  it('CreatePermission is all-or-nothing and needs XOR-PEER-ADDRESS (400)', async () => {
    const w = await setup();
    const r = await allocated(w);
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
    const r = await allocated(w);
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
    const r = await allocated(w);
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

describe('TURN server: caps, peer gate and error replies (issue 8)', () => {
  it('caps allocations per client address (486) across user names', async () => {
    const w = await setup({ maxAllocationsPerIp: 2 });
    const host = clientHost(w); // one NAT: every client below shares its public address
    const open = async (user: string) => {
      const creds = mintTurnCredentials(SECRET, user, 86_400, w.clock.now());
      const c = await TurnClient.allocate({
        server: SERVER,
        ...creds,
        net: host,
        clock: w.clock,
      });
      w.closers.push(() => c.close());
      return c;
    };
    await open('u1');
    await open('u2');
    await expect(open('u3')).rejects.toMatchObject({ status: 486 });
    // Another address is not affected.
    expect((await client(w, 'u4')).relayedAddress.port).toBeGreaterThan(0);
  });

  it('a peer gate decides who may be given a permission; it hears of every allocation', async () => {
    const noted: string[] = [];
    const w = await setup({
      peerGate: {
        noteAllocation: (user, c, r) => void noted.push(`${user} ${c.address} ${r.address}`),
        allows: (user, ip) => user === 'alice' && ip === '198.51.100.30',
      },
    });
    const p = await peer(w, '198.51.100.30');
    const alice = await client(w, 'alice');
    const eve = await client(w, 'eve');
    expect(noted).toHaveLength(2);
    expect(noted[0]).toMatch(/^alice 198\.51\.100\.\d+ 203\.0\.113\.1$/);
    await alice.bindChannel(p.socket.address());
    await expect(eve.bindChannel(p.socket.address())).rejects.toMatchObject({ status: 403 });
    await expect(alice.createPermission('198.51.100.31')).rejects.toMatchObject({ status: 403 });
    expect(w.server.counters.peerGateRefused).toBe(2);
  });

  it('a gate that keeps its knowledge elsewhere is awaited: notes before the Allocate answer, prepare before a permission', async () => {
    // What the fleet relay's Redis gate does (src/cluster/relay-peer-gate.ts): noteAllocation and
    // prepare are asynchronous; allows() answers from what prepare left.
    const seen = new Set<string>();
    const verdicts = new Set<string>();
    const events: string[] = [];
    const later = (): Promise<void> => new Promise((r) => setImmediate(r));
    const w = await setup({
      peerGate: {
        noteAllocation: async (user, c) => {
          await later();
          seen.add(c.address);
          events.push(`noted ${user}`);
        },
        prepare: async (user, ips) => {
          await later();
          for (const ip of ips) if (seen.has(ip)) verdicts.add(`${user} ${ip}`);
          events.push(`prepared ${user} ${ips.join(',')}`);
        },
        allows: (user, ip) => verdicts.has(`${user} ${ip}`),
      },
    });
    const alice = await client(w, 'alice');
    events.push('alice allocated');
    const bob = await client(w, 'bob');
    const bobAt = [...seen].find((ip) => ip !== [...seen][0])!;
    await alice.createPermission(bobAt);
    await expect(alice.createPermission('198.51.100.31')).rejects.toMatchObject({ status: 403 });
    expect(events).toEqual([
      'noted alice',
      'alice allocated',
      'noted bob',
      `prepared alice ${bobAt}`,
      'prepared alice 198.51.100.31',
    ]);
    expect(bob.relayedAddress.port).toBeGreaterThan(0);
  });

  it('the whole server’s bandwidth cap drops beyond its burst and counts it', async () => {
    const w = await setup({ totalBytesPerSecond: 1_000 });
    const p = await peer(w, '198.51.100.40');
    const c = await client(w);
    await c.bindChannel(p.socket.address());
    for (let i = 0; i < 80; i++) c.send(p.socket.address(), new Uint8Array(1_000));
    await settle();
    // Burst: MIN_BUCKET_BYTES (64 KiB) → 65 packets of 1000 bytes, the rest dropped.
    expect(p.got.length).toBe(65);
    expect(w.server.counters.dropped['total-bandwidth']).toBe(15);
  });

  it('error replies to one source are rate limited (burst 400, then 200/s)', async () => {
    const w = await setup();
    const socket = await clientHost(w, 'full-cone').bindUdp({ port: 0 });
    w.closers.push(() => socket.close());
    let replies = 0;
    socket.onMessage(() => replies++);
    const req = allocateRequest().build();
    for (let i = 0; i < 500; i++) socket.send(req, SERVER);
    await settle();
    expect(replies).toBe(400);
    expect(w.server.counters.dropped['error-rate-limited']).toBe(100);
    await w.clock.advanceAsync(1_000);
    for (let i = 0; i < 300; i++) socket.send(req, SERVER);
    await settle();
    expect(replies).toBe(600);
  });

  it('error replies of all sources together stay within the bytes/s budget (spoofed sources)', async () => {
    // Each source stays far under its own limit (burst 400): only the process-wide budget binds,
    // as when a flood spoofs a new source address per packet.
    const budget = 10_000;
    const w = await setup({ errorReplyBytesPerSecond: budget });
    const sources: UdpSocket[] = [];
    let replies = 0;
    let wire = 0;
    for (let i = 0; i < 50; i++) {
      const s = await w.net.addHost({ addresses: [`198.18.0.${i + 1}`] }).bindUdp({ port: 4000 });
      w.closers.push(() => s.close());
      s.onMessage((d) => {
        replies++;
        wire += d.length + 28; // IPv4 + UDP headers, as the budget counts them
      });
      sources.push(s);
    }
    const req = allocateRequest().build();
    const flood = async (): Promise<void> => {
      for (let round = 0; round < 20; round++) for (const s of sources) s.send(req, SERVER);
      await settle();
    };
    await flood();
    expect(replies).toBeGreaterThan(0);
    expect(wire).toBeLessThanOrEqual(budget);
    const each = wire / replies; // every reply is the same 401
    expect(wire).toBeGreaterThan(budget - each); // the budget is used, not undershot
    expect(w.server.counters.dropped['error-budget']).toBe(1_000 - replies);
    expect(w.server.counters.dropped['error-rate-limited']).toBe(0);
    // A second later the budget has refilled by a second's worth, and no more.
    const before = replies;
    await w.clock.advanceAsync(1_000);
    await flood();
    expect(replies - before).toBe(Math.floor(budget / each));
  });

  it('the error-reply budget cannot be switched off', async () => {
    await expect(setup({ errorReplyBytesPerSecond: 0 })).rejects.toThrow(RangeError);
    await expect(setup({ errorReplyBytesPerSecond: Infinity })).rejects.toThrow(RangeError);
  });
});
