/**
 * Each TURN method handler on its own: the reply value it returns (ok / error code / redirect /
 * drop) for well-formed, malformed and unauthorised requests, RFC 8656 §7–§11 and RFC 8489 §6.3,
 * §9.2. The handlers run against a real registry and relayed sockets on the in-memory network.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Endpoint } from '../../../src/net/index.js';
import { MemoryNetwork } from '../../../src/net/index.js';
import { RelayCounters } from '../../../src/relay/counters.js';
import { mintTurnCredentials, sharedSecret } from '../../../src/relay/credentials.js';
import type { RelayPeerGate } from '../../../src/relay/peer-gate.js';
import type { ClientLink } from '../../../src/relay/server/client-link.js';
import { createRelayCore } from '../../../src/relay/server/core.js';
import { handleRequest } from '../../../src/relay/server/dispatch.js';
import { handleAllocate } from '../../../src/relay/server/handlers/allocate.js';
import { handleChannelBind } from '../../../src/relay/server/handlers/channel-bind.js';
import { handleCreatePermission } from '../../../src/relay/server/handlers/create-permission.js';
import { handleRefresh } from '../../../src/relay/server/handlers/refresh.js';
import { handleSendIndication } from '../../../src/relay/server/handlers/send-indication.js';
import { resolveServerOptions, type TurnServerOptions } from '../../../src/relay/server/options.js';
import type { Reply } from '../../../src/relay/server/reply.js';
import type { LiveAllocation } from '../../../src/relay/server/registry.js';
import type { Authenticated, RelayCore } from '../../../src/relay/server/request-context.js';
import {
  Attr,
  decodeStunMessage,
  longTermKey,
  Method,
  readLifetime,
  readXorAddress,
  StunClass,
  StunMessageBuilder,
  type StunMessage,
} from '../../../src/stun/index.js';
import { ManualClock } from '../../../src/util/clock.js';

const RELAY = '203.0.113.1';
const SECRET = 'handler-secret';
const AUTH: Authenticated = { username: 'alice', user: 'alice', key: new Uint8Array(16) };

interface Fixture {
  clock: ManualClock;
  net: MemoryNetwork;
  core: RelayCore;
  closed: { value: boolean };
}

let fixtures: Fixture[] = [];
afterEach(async () => {
  for (const f of fixtures) {
    for (const a of f.core.registry.all()) f.core.registry.delete(a);
    await f.core.reservations.closeAll();
  }
  fixtures = [];
});

function fixture(extra: Partial<TurnServerOptions> = {}): Fixture {
  const clock = new ManualClock();
  const net = new MemoryNetwork({ clock });
  const host = net.addHost({ addresses: [RELAY] });
  const o = resolveServerOptions({
    net: host,
    clock,
    listenAddress: RELAY,
    port: 3478,
    relayAddress: RELAY,
    credentials: sharedSecret(SECRET),
    ...extra,
  });
  const closed = { value: false };
  const core = createRelayCore(o, new RelayCounters(), () => closed.value);
  core.peers.listeners.set(RELAY, 3478, true);
  const f = { clock, net, core, closed };
  fixtures.push(f);
  return f;
}

/** The client's side of a 5-tuple: records what the server would send it. */
function link(address = '198.51.100.7', port = 40000): ClientLink & { sent: Uint8Array[] } {
  const sent: Uint8Array[] = [];
  let closed = false;
  return {
    transport: 'udp',
    client: { address, port },
    server: { address: RELAY, port: 3478 },
    stream: false,
    sent,
    send: (b) => (sent.push(b), true),
    get closed() {
      return closed;
    },
    set closed(v: boolean) {
      closed = v;
    },
  } as ClientLink & { sent: Uint8Array[] };
}

const req = (method: number): StunMessageBuilder =>
  StunMessageBuilder.of(method, StunClass.Request);
const allocateReq = (): StunMessageBuilder => req(Method.Allocate).addRequestedTransport(17);
const decode = (b: StunMessageBuilder): StunMessage => decodeStunMessage(b.build());

function ctx(f: Fixture, b: StunMessageBuilder, l: ClientLink = link(), auth = AUTH) {
  return { msg: decode(b), link: l, auth, now: f.clock.now(), core: f.core };
}

/** The success response a reply would produce, decoded. */
function success(r: Reply, method: number): StunMessage {
  if (r.kind !== 'ok') throw new Error(`expected ok, got ${JSON.stringify(r)}`);
  const b = StunMessageBuilder.of(method, StunClass.Success);
  r.attributes?.(b);
  return decodeStunMessage(b.build());
}

const status = (r: Reply): number | string =>
  r.kind === 'error' ? r.status : r.kind === 'drop' ? `drop:${r.reason ?? ''}` : r.kind;

async function allocated(f: Fixture, l = link(), auth = AUTH): Promise<LiveAllocation> {
  const r = await handleAllocate(ctx(f, allocateReq(), l, auth));
  expect(r.kind).toBe('ok');
  return f.core.registry.of(l, f.clock.now())!;
}

describe('Allocate handler (RFC 8656 §7.2)', () => {
  it('ok: XOR-RELAYED-ADDRESS on the relay, LIFETIME 600, XOR-MAPPED-ADDRESS of the client', async () => {
    const f = fixture();
    const l = link();
    const r = await handleAllocate(ctx(f, allocateReq(), l));
    const res = success(r, Method.Allocate);
    expect(readXorAddress(res, Attr.XorRelayedAddress)?.address).toBe(RELAY);
    expect(readLifetime(res)).toBe(600);
    expect(readXorAddress(res, Attr.XorMappedAddress)).toMatchObject(l.client);
    expect(f.core.registry.size).toBe(1);
  });

  it('step 1: the same transaction again → the same success; another one → 437', async () => {
    const f = fixture();
    const l = link();
    const first = allocateReq();
    const c1 = ctx(f, first, l);
    const r1 = success(await handleAllocate(c1), Method.Allocate);
    const again = { ...c1, msg: decodeStunMessage(c1.msg.raw) };
    const r2 = success(await handleAllocate(again), Method.Allocate);
    expect(readXorAddress(r2, Attr.XorRelayedAddress)).toEqual(
      readXorAddress(r1, Attr.XorRelayedAddress),
    );
    expect(status(await handleAllocate(ctx(f, allocateReq(), l)))).toBe(437);
    expect(f.core.registry.size).toBe(1);
  });

  it.each([
    ['REQUESTED-TRANSPORT missing → 400', () => req(Method.Allocate), 400],
    ['REQUESTED-TRANSPORT TCP → 442', () => req(Method.Allocate).addRequestedTransport(6), 442],
    [
      'REQUESTED-ADDRESS-FAMILY IPv6 on an IPv4 relay → 440',
      () => allocateReq().addAddressFamily(Attr.RequestedAddressFamily, 'IPv6'),
      440,
    ],
    [
      'REQUESTED-ADDRESS-FAMILY with RESERVATION-TOKEN → 400',
      () =>
        allocateReq()
          .addAddressFamily(Attr.RequestedAddressFamily, 'IPv4')
          .addBytes(Attr.ReservationToken, new Uint8Array(8)),
      400,
    ],
    [
      'EVEN-PORT with RESERVATION-TOKEN → 400',
      () => allocateReq().addEvenPort(false).addBytes(Attr.ReservationToken, new Uint8Array(8)),
      400,
    ],
    [
      'an unknown RESERVATION-TOKEN → 508',
      () => allocateReq().addBytes(Attr.ReservationToken, new Uint8Array(8)),
      508,
    ],
  ])('%s', async (_name, build, code) => {
    const f = fixture();
    expect(status(await handleAllocate(ctx(f, build())))).toBe(code);
    expect(f.core.registry.size).toBe(0);
  });

  it('EVEN-PORT: an even relayed port; with R, the next port reserved under a token', async () => {
    const f = fixture();
    const r = success(
      await handleAllocate(ctx(f, allocateReq().addEvenPort(true))),
      Method.Allocate,
    );
    expect(readXorAddress(r, Attr.XorRelayedAddress)!.port % 2).toBe(0);
    const token = r.get(Attr.ReservationToken);
    expect(token?.length).toBe(8);
    const l2 = link('198.51.100.8');
    const r2 = success(
      await handleAllocate(ctx(f, allocateReq().addBytes(Attr.ReservationToken, token!), l2)),
      Method.Allocate,
    );
    expect(readXorAddress(r2, Attr.XorRelayedAddress)!.port).toBe(
      readXorAddress(r, Attr.XorRelayedAddress)!.port + 1,
    );
  });

  it('quotas: server full → 508, per client address → 486, per user → 486', async () => {
    const full = fixture({ maxAllocations: 1 });
    await allocated(full);
    expect(status(await handleAllocate(ctx(full, allocateReq(), link('198.51.100.9'))))).toBe(508);

    const perIp = fixture({ maxAllocationsPerIp: 1 });
    await allocated(perIp, link('198.51.100.7', 1));
    expect(status(await handleAllocate(ctx(perIp, allocateReq(), link('198.51.100.7', 2))))).toBe(
      486,
    );

    const perUser = fixture({ maxAllocationsPerUser: 1 });
    await allocated(perUser, link('198.51.100.7'));
    expect(status(await handleAllocate(ctx(perUser, allocateReq(), link('198.51.100.8'))))).toBe(
      486,
    );
    // A refused Allocate holds no quota: the address's count is back where it was.
    expect(perUser.core.registry.ipQuotas.count('198.51.100.8')).toBe(0);
  });

  it('ALTERNATE-SERVER configured → redirect, round robin over the alternates', async () => {
    const alternates = [
      { address: '203.0.113.2', port: 3478 },
      { address: '203.0.113.3', port: 3478 },
    ];
    const f = fixture({ alternateServers: alternates });
    const got = [];
    for (let i = 0; i < 3; i++) got.push(await handleAllocate(ctx(f, allocateReq())));
    expect(got).toEqual([
      { kind: 'redirect', alternate: alternates[0] },
      { kind: 'redirect', alternate: alternates[1] },
      { kind: 'redirect', alternate: alternates[0] },
    ]);
    expect(f.core.registry.size).toBe(0);
  });

  it('a retransmission while the relayed socket is being bound → drop without a reason', async () => {
    const f = fixture();
    const l = link();
    const c = ctx(f, allocateReq(), l);
    const first = handleAllocate(c);
    const second = await handleAllocate({ ...c, msg: decodeStunMessage(c.msg.raw) });
    expect(second).toEqual({ kind: 'drop', reason: undefined });
    expect((await first).kind).toBe('ok');
  });

  it('the client goes away while its socket is bound → 437, nothing kept', async () => {
    const f = fixture();
    const l = link();
    const pending = handleAllocate(ctx(f, allocateReq(), l));
    (l as { closed: boolean }).closed = true;
    expect(status(await pending)).toBe(437);
    expect(f.core.registry.size).toBe(0);
    expect(f.core.registry.quotas.allocationsOf('alice')).toBe(0);
  });
});

describe('Refresh handler (RFC 8656 §7.3)', () => {
  it('LIFETIME capped at the maximum, absent → the default, 0 → deleted', async () => {
    const f = fixture();
    const l = link();
    const a = await allocated(f, l);
    const r1 = success(
      handleRefresh({
        ...ctx(f, req(Method.Refresh).addUint32(Attr.Lifetime, 99_999), l),
        allocation: a,
      }),
      Method.Refresh,
    );
    expect(readLifetime(r1)).toBe(3600);
    const r2 = success(
      handleRefresh({ ...ctx(f, req(Method.Refresh), l), allocation: a }),
      Method.Refresh,
    );
    expect(readLifetime(r2)).toBe(600);
    const r3 = success(
      handleRefresh({
        ...ctx(f, req(Method.Refresh).addUint32(Attr.Lifetime, 0), l),
        allocation: a,
      }),
      Method.Refresh,
    );
    expect(readLifetime(r3)).toBe(0);
    expect(f.core.registry.size).toBe(0);
  });

  it('REQUESTED-ADDRESS-FAMILY other than the allocation’s → 443', async () => {
    const f = fixture();
    const l = link();
    const a = await allocated(f, l);
    const b = req(Method.Refresh).addAddressFamily(Attr.RequestedAddressFamily, 'IPv6');
    expect(status(handleRefresh({ ...ctx(f, b, l), allocation: a }))).toBe(443);
    expect(f.core.registry.size).toBe(1);
  });
});

describe('CreatePermission handler (RFC 8656 §9.2)', () => {
  const perm = (...peers: Endpoint[]): StunMessageBuilder => {
    const b = req(Method.CreatePermission);
    for (const p of peers) b.addXorAddress(Attr.XorPeerAddress, p);
    return b;
  };

  it.each([
    ['no XOR-PEER-ADDRESS → 400', [], 400],
    ['a private peer (default policy) → 403', [{ address: '10.0.0.5', port: 1 }], 403],
    ['loopback → 403', [{ address: '127.0.0.1', port: 1 }], 403],
    ['an IPv6 peer on an IPv4 relay → 443', [{ address: '2001:db8::1', port: 1 }], 443],
    [
      'one refused among allowed ones → 403 and none installed',
      [
        { address: '198.51.100.50', port: 1 },
        { address: '10.0.0.5', port: 1 },
      ],
      403,
    ],
  ] as [string, Endpoint[], number][])('%s', async (_name, peers, code) => {
    const f = fixture();
    const l = link();
    const a = await allocated(f, l);
    expect(status(handleCreatePermission({ ...ctx(f, perm(...peers), l), allocation: a }))).toBe(
      code,
    );
    expect(a.state.permissions.size).toBe(0);
  });

  it('our own listening transport address is never a peer (403), a relayed one of ours is', async () => {
    const f = fixture({ peerPolicy: {} });
    const l = link();
    const a = await allocated(f, l);
    const other = await allocated(f, link('198.51.100.8'));
    const listener = perm({ address: RELAY, port: 3478 });
    expect(status(handleCreatePermission({ ...ctx(f, listener, l), allocation: a }))).toBe(403);
    const relayed = perm(other.relayed);
    expect(status(handleCreatePermission({ ...ctx(f, relayed, l), allocation: a }))).toBe('ok');
  });

  it('the peer gate refuses peers outside the rendezvous: 403, counted', async () => {
    const gate: RelayPeerGate = {
      noteAllocation: () => {},
      allows: (_user, ip) => ip === '198.51.100.60',
    };
    const f = fixture({ peerGate: gate });
    const l = link();
    const a = await allocated(f, l);
    const c = (ip: string) => ({ ...ctx(f, perm({ address: ip, port: 1 }), l), allocation: a });
    expect(status(handleCreatePermission(c('198.51.100.61')))).toBe(403);
    expect(f.core.counters.peerGateRefused).toBe(1);
    expect(status(handleCreatePermission(c('198.51.100.60')))).toBe('ok');
    expect(a.state.hasPermission('198.51.100.60', f.clock.now())).toBe(true);
  });

  it('the permission table full → 508', async () => {
    const f = fixture({ maxPermissionsPerAllocation: 1 });
    const l = link();
    const a = await allocated(f, l);
    const c = (ip: string) => ({ ...ctx(f, perm({ address: ip, port: 1 }), l), allocation: a });
    expect(status(handleCreatePermission(c('198.51.100.70')))).toBe('ok');
    expect(status(handleCreatePermission(c('198.51.100.71')))).toBe(508);
    expect(f.core.counters.permissionsCreated).toBe(1);
  });
});

describe('ChannelBind handler (RFC 8656 §11.2)', () => {
  const bind = (n: number | undefined, p: Endpoint | undefined): StunMessageBuilder => {
    const b = req(Method.ChannelBind);
    if (n !== undefined) b.addChannelNumber(n);
    if (p !== undefined) b.addXorAddress(Attr.XorPeerAddress, p);
    return b;
  };
  const P = { address: '198.51.100.80', port: 5000 };
  const Q = { address: '198.51.100.81', port: 5000 };

  it.each([
    ['CHANNEL-NUMBER missing → 400', bind(undefined, P), 400],
    ['XOR-PEER-ADDRESS missing → 400', bind(0x4000, undefined), 400],
    ['number below 0x4000 → 400', bind(0x3fff, P), 400],
    ['number above 0x7FFF (RFC 5766’s range, accepted) → 400', bind(0x8000, P), 400],
    ['a refused peer → 403', bind(0x4000, { address: '10.1.1.1', port: 1 }), 403],
    ['an IPv6 peer on an IPv4 relay → 443', bind(0x4000, { address: '2001:db8::2', port: 1 }), 443],
  ] as [string, StunMessageBuilder, number][])('%s', async (_name, b, code) => {
    const f = fixture();
    const l = link();
    const a = await allocated(f, l);
    expect(status(handleChannelBind({ ...ctx(f, b, l), allocation: a }))).toBe(code);
    expect(a.state.channelCount).toBe(0);
  });

  it('ok installs the permission; rebinding refreshes; either side bound elsewhere → 400', async () => {
    const f = fixture();
    const l = link();
    const a = await allocated(f, l);
    const c = (b: StunMessageBuilder) => ({ ...ctx(f, b, l), allocation: a });
    expect(status(handleChannelBind(c(bind(0x4000, P))))).toBe('ok');
    expect(a.state.hasPermission(P.address, f.clock.now())).toBe(true);
    expect(status(handleChannelBind(c(bind(0x4000, P))))).toBe('ok');
    expect(status(handleChannelBind(c(bind(0x4000, Q))))).toBe(400);
    expect(status(handleChannelBind(c(bind(0x4001, P))))).toBe(400);
    expect(f.core.counters.channelsBound).toBe(2);
  });

  it('the channel table full → 508', async () => {
    const f = fixture({ maxChannelsPerAllocation: 1 });
    const l = link();
    const a = await allocated(f, l);
    const c = (b: StunMessageBuilder) => ({ ...ctx(f, b, l), allocation: a });
    expect(status(handleChannelBind(c(bind(0x4000, P))))).toBe('ok');
    expect(status(handleChannelBind(c(bind(0x4001, Q))))).toBe(508);
  });
});

describe('Send indication handler (RFC 8656 §11.2)', () => {
  const send = (p: Endpoint | undefined, data: Uint8Array | undefined): StunMessage => {
    const b = StunMessageBuilder.of(Method.Send, StunClass.Indication);
    if (p !== undefined) b.addXorAddress(Attr.XorPeerAddress, p);
    if (data !== undefined) b.addBytes(Attr.Data, data);
    return decodeStunMessage(b.build());
  };
  const P = { address: '198.51.100.90', port: 5000 };

  it('no allocation, no permission, no DATA: each a drop with its reason; else relayed', async () => {
    const f = fixture();
    const l = link();
    const now = (): number => f.clock.now();
    expect(handleSendIndication(send(P, Uint8Array.of(1)), l, f.core, now())).toEqual({
      kind: 'drop',
      reason: 'no-allocation',
    });
    const a = await allocated(f, l);
    expect(handleSendIndication(send(P, Uint8Array.of(1)), l, f.core, now())?.reason).toBe(
      'no-permission',
    );
    a.state.installPermission(P.address, now());
    expect(handleSendIndication(send(P, undefined), l, f.core, now())?.reason).toBe('unexpected');

    const peer = await f.net.addHost({ addresses: [P.address] }).bindUdp({ port: P.port });
    const got: number[][] = [];
    peer.onMessage((d) => got.push([...d]));
    expect(handleSendIndication(send(P, Uint8Array.of(4, 2)), l, f.core, now())).toBeUndefined();
    await new Promise((r) => setImmediate(r));
    expect(got).toEqual([[4, 2]]);
    expect(f.core.counters.toPeerPackets).toBe(1);
    await peer.close();
  });
});

describe('dispatch (RFC 8489 §9.2.4, RFC 8656 §5)', () => {
  const creds = (f: Fixture, user = 'alice') => {
    const c = mintTurnCredentials(SECRET, user, 3600, f.clock.now());
    return { ...c, key: longTermKey(c.username, 'natpush', c.password) };
  };
  const signed = (f: Fixture, b: StunMessageBuilder, l: ClientLink, user = 'alice') => {
    const c = creds(f, user);
    const nonce = f.core.auth.nonces.mint(`${l.client.address}:${l.client.port}`, f.clock.now());
    return b
      .addString(Attr.Username, c.username)
      .addString(Attr.Realm, 'natpush')
      .addString(Attr.Nonce, nonce)
      .addIntegrity(c.key);
  };
  const run = async (f: Fixture, b: StunMessageBuilder, l: ClientLink) =>
    (await handleRequest(decode(b), l, f.core)).reply;

  it('no credentials → 401 challenge; Binding → ok without credentials', async () => {
    const f = fixture();
    const r = await run(f, allocateReq(), link());
    expect(r).toMatchObject({ kind: 'error', status: 401, challenge: true });
    expect((await run(f, req(Method.Binding), link())).kind).toBe('ok');
  });

  it('integrity without USERNAME/REALM/NONCE → 400; a NONCE not ours → 438 challenge', async () => {
    const f = fixture();
    const l = link();
    const bare = allocateReq().addIntegrity(new Uint8Array(16));
    expect(await run(f, bare, l)).toMatchObject({ status: 400, challenge: false });
    const c = creds(f);
    const stale = allocateReq()
      .addString(Attr.Username, c.username)
      .addString(Attr.Realm, 'natpush')
      .addString(Attr.Nonce, 'not-a-nonce-of-ours')
      .addIntegrity(c.key);
    expect(await run(f, stale, l)).toMatchObject({ status: 438, challenge: true });
  });

  it('signed: Allocate ok; Refresh on another 5-tuple → 437; with another user → 441', async () => {
    const f = fixture();
    const l = link();
    expect((await run(f, signed(f, allocateReq(), l), l)).kind).toBe('ok');
    const elsewhere = link('198.51.100.99');
    expect(await run(f, signed(f, req(Method.Refresh), elsewhere), elsewhere)).toMatchObject({
      status: 437,
    });
    expect(await run(f, signed(f, req(Method.Refresh), l, 'bob'), l)).toMatchObject({
      status: 441,
    });
    expect((await run(f, signed(f, req(Method.Refresh), l), l)).kind).toBe('ok');
  });

  it('an unknown comprehension-required attribute → 420; an unsupported method → 400', async () => {
    const f = fixture();
    const l = link();
    const unknown = signed(f, allocateReq().addBytes(0x0030, new Uint8Array(4)), l);
    const r = await run(f, unknown, l);
    expect(r).toMatchObject({ kind: 'error', status: 420 });
    expect((await run(f, signed(f, allocateReq(), l), l)).kind).toBe('ok');
    expect(await run(f, signed(f, req(0x00a), l), l)).toMatchObject({ status: 400 });
  });

  it('an attribute that does not decode → 400 malformed, counted', async () => {
    const f = fixture();
    const l = link();
    expect((await run(f, signed(f, allocateReq(), l), l)).kind).toBe('ok');
    // A CHANNEL-NUMBER of the wrong length, signed so the request reaches the handler.
    const bad = signed(
      f,
      req(Method.ChannelBind).addBytes(Attr.ChannelNumber, Uint8Array.of(0x40)),
      l,
    );
    expect(await run(f, bad, l)).toMatchObject({ status: 400, reason: 'malformed attribute' });
    expect(f.core.counters.dropped.malformed).toBe(1);
  });
});
