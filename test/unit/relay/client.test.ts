/**
 * The TURN client's transactions (on the shared STUN engine) against the real relay server on the
 * in-memory network with a manual clock: RFC 8489 §6.2.1 retransmission of lost requests, the
 * 10 s request timeout, the bounded pending table, and a socket shared with a STUN client.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Endpoint } from '../../../src/net/index.js';
import { MemoryNetwork, NAT_PRESETS } from '../../../src/net/index.js';
import { TURN_CLIENT_MAX_PENDING, TurnClient } from '../../../src/relay/client/client.js';
import { mintTurnCredentials } from '../../../src/relay/credentials.js';
import { isTurnClientError, TURN_ERR } from '../../../src/relay/index.js';
import {
  Attr,
  BINDING_REQUEST,
  readXorAddress,
  StunClient,
  StunMessageBuilder,
  StunServer,
  StunTransactions,
} from '../../../src/stun/index.js';
import { ManualClock } from '../../../src/util/clock.js';
import { relayOn } from './memory-relay.js';

const SERVER: Endpoint = { address: '203.0.113.1', port: 3478 };
const SECRET = 'test-secret';
const closers: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

async function setup() {
  const clock = new ManualClock();
  const net = new MemoryNetwork({ clock });
  const server = await relayOn(net.addHost({ addresses: [SERVER.address] }), clock, SERVER, SECRET);
  closers.push(() => server.close());
  const nat = net.addNat({
    publicAddress: '198.51.100.7',
    behavior: NAT_PRESETS['port-restricted'],
  });
  const host = net.addHost({ addresses: ['192.168.1.2'], behind: nat });
  const creds = mintTurnCredentials(SECRET, 'alice', 86_400, clock.now());
  const options = { server: SERVER, username: creds.username, password: creds.password, clock };
  /** Times (ms since t0) at which requests left the client host for the server. */
  const sentAt: number[] = [];
  let t0 = clock.now();
  let drop = (): boolean => false;
  net.dropIf((p) => {
    // Each packet is routed once per realm; look at it as it leaves the private host.
    if (p.src.address !== '192.168.1.2' || p.dst.port !== SERVER.port) return false;
    sentAt.push(clock.now() - t0);
    return drop();
  });
  return {
    clock,
    net,
    host,
    server,
    options,
    sentAt,
    /** Restart the send log and choose which requests are lost. */
    watch(dropFn: () => boolean) {
      sentAt.length = 0;
      t0 = clock.now();
      drop = dropFn;
    },
  };
}

describe('TurnClient transactions', () => {
  it('retransmits a lost Allocate at 500 and 1500 ms (RFC 8489 §6.2.1) and allocates', async () => {
    const w = await setup();
    let lost = 2;
    w.watch(() => lost-- > 0);
    const pending = TurnClient.allocate({ ...w.options, net: w.host });
    await w.clock.advanceAsync(1_500);
    const c = await pending;
    closers.push(() => c.close());
    // Allocate (lost, lost, answered with 401), then Allocate with credentials.
    expect(w.sentAt).toEqual([0, 500, 1500, 1500]);
    expect(c.stats.retransmits).toBe(2);
    expect(c.stats.requests).toBe(2);
    expect(c.relayedAddress.address).toBe(SERVER.address);
    expect(w.server.allocationCount).toBe(1);
  });

  it('gives up after 10 s: requests at 0, 500, 1500, 3500, 7500, then NATPUSH_ERR_TURN_TIMEOUT', async () => {
    const w = await setup();
    const c = await TurnClient.allocate({ ...w.options, net: w.host });
    closers.push(() => c.close());
    w.watch(() => true);
    const done = c.createPermission('198.51.100.30').catch((e: unknown) => e);
    await w.clock.advanceAsync(9_999);
    expect(w.sentAt).toEqual([0, 500, 1500, 3500, 7500]);
    await w.clock.advanceAsync(1);
    const err = await done;
    expect(isTurnClientError(err) && err.code).toBe(TURN_ERR.TIMEOUT);
    expect(c.stats.transactions.timedOut).toBe(1);
    w.watch(() => false);
  });

  it('bounds outstanding requests with NATPUSH_ERR_TURN_OVERLOADED', async () => {
    expect(TURN_CLIENT_MAX_PENDING).toBeGreaterThan(0);
    const w = await setup();
    const c = await TurnClient.allocate({ ...w.options, net: w.host, maxPending: 2 });
    closers.push(() => c.close());
    w.watch(() => true);
    const a = c.createPermission('198.51.100.30').catch((e: unknown) => e);
    const b = c.createPermission('198.51.100.31').catch((e: unknown) => e);
    const over = await c.createPermission('198.51.100.32').catch((e: unknown) => e);
    expect(isTurnClientError(over) && over.code).toBe(TURN_ERR.OVERLOADED);
    expect(c.stats.transactions.overloaded).toBe(1);
    // Once the link is back, the outstanding ones complete on their next retransmission.
    w.watch(() => false);
    await w.clock.advanceAsync(500);
    expect(await a).toBeUndefined();
    expect(await b).toBeUndefined();
    expect(c.stats.retransmits).toBe(2);
  });

  it('shares a socket with a StunClient: each takes its own responses', async () => {
    const w = await setup();
    const socket = await w.host.bindUdp({ port: 40000 });
    const stun = new StunClient({ socket, clock: w.clock });
    closers.push(
      () => socket.close(),
      () => stun.close(),
    );
    const c = await TurnClient.allocate({ ...w.options, socket });
    closers.push(() => c.close());
    const [binding] = await Promise.all([
      stun.binding(SERVER),
      c.createPermission('198.51.100.30'),
    ]);
    // The relay's STUN Binding answer and the TURN allocation agree on our reflexive address.
    expect(binding.mapped).toEqual(c.mappedAddress);
    expect(stun.stats.completed).toBe(1);
    // The StunClient saw the TURN responses and left them alone (they are not its transactions).
    expect(stun.stats.ignoredUnknownTransaction).toBe(c.stats.requests);
    expect(stun.stats.ignoredWrongSource + stun.stats.ignoredMalformed).toBe(0);
    expect(c.stats.transactions.completed).toBe(c.stats.requests);
  });

  it('a shared socket closed by its owner fails requests at once with NATPUSH_ERR_TURN_CLOSED', async () => {
    const w = await setup();
    const socket = await w.host.bindUdp({ port: 0 });
    const c = await TurnClient.allocate({ ...w.options, socket });
    closers.push(() => c.close());
    w.watch(() => true);
    const done = c.createPermission('198.51.100.30').catch((e: unknown) => e);
    await socket.close();
    await w.clock.advanceAsync(500); // the retransmission finds the socket closed
    const err = await done;
    expect(isTurnClientError(err) && err.code).toBe(TURN_ERR.CLOSED);
    expect(await c.createPermission('198.51.100.31').catch((e: unknown) => e)).toSatisfy(
      (e) => isTurnClientError(e) && e.code === TURN_ERR.CLOSED,
    );
    expect(c.stats.transactions.timedOut).toBe(0);
    w.watch(() => false);
  });

  it('the engine runs through a TURN allocation: a Binding via the relay sees the relayed address', async () => {
    const w = await setup();
    const stunAt = { address: '198.51.100.40', port: 3478 };
    const stun = await StunServer.start({
      net: w.net.addHost({ addresses: [stunAt.address] }),
      clock: w.clock,
      listen: stunAt,
    });
    closers.push(() => stun.close());
    const c = await TurnClient.allocate({ ...w.options, net: w.host });
    closers.push(() => c.close());
    await c.createPermission(stunAt.address);
    // send = a Send indication through the relay; responses come back as Data indications.
    const viaRelay = new StunTransactions({ send: (b, to) => c.send(to, b), clock: w.clock });
    closers.push(c.onData((d, from) => void viaRelay.handle(d, from)));
    const res = await viaRelay.start(stunAt, new StunMessageBuilder(BINDING_REQUEST).build());
    expect(readXorAddress(res.message, Attr.XorMappedAddress)).toEqual(c.relayedAddress);
    expect(res.from).toEqual(expect.objectContaining(stunAt));
    viaRelay.close();
  });

  it('close() fails what is still outstanding with NATPUSH_ERR_TURN_CLOSED', async () => {
    const w = await setup();
    const c = await TurnClient.allocate({ ...w.options, net: w.host });
    w.watch(() => true);
    const closing = c.close(); // its Refresh(0) is lost: close waits at most 2 s for it
    let closed = false;
    void closing.then(() => (closed = true));
    await w.clock.advanceAsync(1_000);
    expect(closed).toBe(false);
    const done = c.createPermission('198.51.100.30').catch((e: unknown) => e);
    await w.clock.advanceAsync(1_000);
    await closing;
    const err = await done;
    expect(isTurnClientError(err) && err.code).toBe(TURN_ERR.CLOSED);
    expect(c.closed).toBe(true);
    // The lost Refresh(0) was cut by the close, not left to its 10 s timeout.
    expect(c.stats.transactions).toMatchObject({ timedOut: 0, completed: 2 });
  });
});
