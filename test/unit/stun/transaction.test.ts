/**
 * The STUN transaction engine on a ManualClock (no sleeps): the RFC 8489 §6.2.1 schedule to the
 * millisecond, the reliable-transport timeout (§6.2.2), matching by transaction id and source,
 * the bounded pending table, abort, and a run over a MemoryNetwork against the real StunServer.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Endpoint } from '../../../src/net/index.js';
import { MemoryNetwork, NAT_PRESETS } from '../../../src/net/index.js';
import {
  Attr,
  BINDING_REQUEST,
  BINDING_SUCCESS,
  LAN_RETRANSMISSION,
  StunAbortedError,
  StunMessageBuilder,
  StunOverloadedError,
  StunServer,
  StunTimeoutError,
  StunTransportError,
  readXorAddress,
} from '../../../src/stun/index.js';
import {
  StunTransactions,
  retransmissionTimesMs,
  scheduleLengthMs,
} from '../../../src/stun/transaction.js';
import type { StunTransactionsOptions } from '../../../src/stun/transaction.js';
import { ManualClock } from '../../../src/util/clock.js';

const SERVER: Endpoint = { address: '203.0.113.1', port: 3478 };
const ROGUE: Endpoint = { address: '203.0.113.66', port: 3478 };

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

/** An engine whose `send` records (time since start, bytes, destination). */
function recorder(options: Partial<StunTransactionsOptions> = {}) {
  const clock = new ManualClock();
  const t0 = clock.now();
  const sent: { at: number; bytes: Uint8Array; to: Endpoint }[] = [];
  const engine = new StunTransactions({
    clock,
    send: (bytes, to) => sent.push({ at: clock.now() - t0, bytes, to }),
    ...options,
  });
  cleanup.push(() => engine.close());
  return { clock, t0, sent, engine };
}

function request(): Uint8Array {
  return new StunMessageBuilder(BINDING_REQUEST).addFingerprint().build();
}

function successFor(req: Uint8Array, mapped: Endpoint = { address: '198.51.100.7', port: 1 }) {
  return new StunMessageBuilder(BINDING_SUCCESS, req.subarray(8, 20))
    .addXorAddress(Attr.XorMappedAddress, mapped)
    .addFingerprint()
    .build();
}

/** Settle a promise into its value or its error, so timers can run before we look. */
function outcome<T>(p: Promise<T>): Promise<T | Error> {
  return p.then(
    (v) => v,
    (e: unknown) => e as Error,
  );
}

describe('StunTransactions schedule (RFC 8489 §6.2.1)', () => {
  it('sends at 0, 500, 1500, 3500, 7500, 15500, 31500 ms and times out at exactly 39.5 s', async () => {
    const { clock, sent, engine } = recorder();
    const done = outcome(engine.start(SERVER, request()));
    await clock.advanceAsync(39_499);
    expect(sent.map((s) => s.at)).toEqual([0, 500, 1500, 3500, 7500, 15500, 31500]);
    expect(engine.pending).toBe(1);
    await clock.advanceAsync(1);
    const err = await done;
    expect(err).toBeInstanceOf(StunTimeoutError);
    expect((err as StunTimeoutError).code).toBe('NATPUSH_ERR_STUN_TIMEOUT');
    expect((err as StunTimeoutError).attempts).toBe(7);
    expect(engine.pending).toBe(0);
    expect(clock.pending).toBe(0);
    expect(engine.stats).toMatchObject({ sent: 7, retransmitted: 6, timedOut: 1, completed: 0 });
    // The same bytes every time (a retransmission is the same transaction).
    for (const s of sent) expect(s.bytes).toEqual(sent[0]!.bytes);
  });

  it('the schedule helpers agree with the RFC example', () => {
    expect(retransmissionTimesMs({ rtoMs: 500, maxRequests: 7, lastWaitMultiplier: 16 })).toEqual([
      0, 500, 1500, 3500, 7500, 15500, 31500,
    ]);
    expect(scheduleLengthMs({ rtoMs: 500, maxRequests: 7, lastWaitMultiplier: 16 })).toBe(39_500);
    expect(scheduleLengthMs(LAN_RETRANSMISSION)).toBe(1_100);
  });

  it('the LAN schedule as the engine default: 0, 100, 300, 700, fails at 1.1 s', async () => {
    const { clock, sent, engine } = recorder({ retransmission: LAN_RETRANSMISSION });
    const done = outcome(engine.start(SERVER, request()));
    await clock.advanceAsync(1_099);
    expect(sent.map((s) => s.at)).toEqual([0, 100, 300, 700]);
    expect(engine.pending).toBe(1);
    await clock.advanceAsync(1);
    expect(await done).toBeInstanceOf(StunTimeoutError);
  });

  it('a transaction overrides the schedule, and a deadline cuts it short', async () => {
    const { clock, sent, engine } = recorder();
    const a = outcome(engine.start(SERVER, request(), { retransmission: { rtoMs: 50 } }));
    const b = outcome(engine.start(ROGUE, request(), { timeoutMs: 10_000 }));
    await clock.advanceAsync(9_999);
    expect(sent.filter((s) => s.to === ROGUE).map((s) => s.at)).toEqual([0, 500, 1500, 3500, 7500]);
    // rto 50: 0, 50, 150, 350, 750, 1550, 3150; fails at 3150 + 16 × 50 = 3950.
    expect(sent.filter((s) => s.to === SERVER).map((s) => s.at)).toEqual([
      0, 50, 150, 350, 750, 1550, 3150,
    ]);
    expect(await a).toBeInstanceOf(StunTimeoutError);
    expect(engine.pending).toBe(1);
    await clock.advanceAsync(1);
    expect(await b).toBeInstanceOf(StunTimeoutError);
    expect(clock.pending).toBe(0);
  });

  it('reliable transport (TCP/TLS): one send, no retransmission, Ti = 39.5 s (RFC 8489 §6.2.2)', async () => {
    const { clock, sent, engine } = recorder({ transport: 'reliable' });
    const done = outcome(engine.start(SERVER, request()));
    await clock.advanceAsync(39_499);
    expect(sent.map((s) => s.at)).toEqual([0]);
    expect(engine.pending).toBe(1);
    await clock.advanceAsync(1);
    expect(((await done) as StunTimeoutError).attempts).toBe(1);
    expect(engine.stats.retransmitted).toBe(0);
  });

  it('stopRetransmitting: no more sends, still listening for Rm × RTO (RFC 8445 §7.3.1.4)', async () => {
    const { clock, sent, engine } = recorder();
    const req = request();
    const late = request();
    const a = outcome(engine.start(SERVER, req));
    const b = engine.start(SERVER, late);
    await clock.advanceAsync(600);
    expect(engine.stopRetransmitting(req.subarray(8, 20))).toBe(true);
    expect(engine.stopRetransmitting(late.subarray(8, 20))).toBe(true);
    expect(engine.stopRetransmitting(new Uint8Array(12))).toBe(false);
    await clock.advanceAsync(7_999); // 16 × 500 ms after the cancel, less 1 ms
    expect(sent.map((s) => s.at)).toEqual([0, 0, 500, 500]);
    expect(engine.handle(successFor(late), SERVER)).toBe(true); // a late answer still counts
    expect((await b).attempts).toBe(2);
    await clock.advanceAsync(1);
    expect(await a).toBeInstanceOf(StunTimeoutError);
    expect(clock.pending).toBe(0);
  });

  it('waits longer than a Node timer can hold without firing early', async () => {
    const { clock, sent, engine } = recorder();
    const day = 86_400_000;
    const done = outcome(
      engine.start(SERVER, request(), {
        retransmission: { rtoMs: 30 * day, maxRequests: 2, lastWaitMultiplier: 1 },
      }),
    );
    await clock.advanceAsync(30 * day - 1);
    expect(sent).toHaveLength(1);
    await clock.advanceAsync(1);
    expect(sent.map((s) => s.at)).toEqual([0, 30 * day]);
    await clock.advanceAsync(30 * day - 1);
    expect(engine.pending).toBe(1);
    await clock.advanceAsync(1);
    expect(await done).toBeInstanceOf(StunTimeoutError);
  });

  it('a response after retransmissions completes the transaction and stops the timers', async () => {
    const { clock, sent, engine } = recorder();
    const req = request();
    const done = engine.start(SERVER, req);
    await clock.advanceAsync(1_600);
    expect(engine.handle(successFor(req), SERVER)).toBe(true);
    const r = await done;
    expect(r.attempts).toBe(3);
    expect(r.rttMs).toBe(1_600);
    expect(readXorAddress(r.message, Attr.XorMappedAddress)?.address).toBe('198.51.100.7');
    expect(clock.pending).toBe(0);
    await clock.advanceAsync(60_000);
    expect(sent).toHaveLength(3);
    // A duplicate response (the answer to a retransmission) is now unknown, and not consumed.
    expect(engine.handle(successFor(req), SERVER)).toBe(false);
    expect(engine.stats).toMatchObject({ completed: 1, ignoredUnknownTransaction: 1 });
  });
});

describe('StunTransactions matching (RFC 8489 §6.3)', () => {
  it('ignores a response with the right id from another endpoint', async () => {
    const { engine } = recorder();
    const req = request();
    const done = engine.start(SERVER, req);
    expect(engine.handle(successFor(req), ROGUE)).toBe(false);
    expect(engine.handle(successFor(req), { address: SERVER.address, port: 3479 })).toBe(false);
    expect(engine.stats.ignoredWrongSource).toBe(2);
    expect(engine.pending).toBe(1);
    // An IPv4-mapped IPv6 source is the same endpoint (dual-stack sockets report it so).
    expect(engine.handle(successFor(req), { address: '::ffff:203.0.113.1', port: 3478 })).toBe(
      true,
    );
    await done;
  });

  it('anySource accepts the answer from the server’s other address (RFC 5780 CHANGE-REQUEST)', async () => {
    const { engine } = recorder();
    const req = request();
    const done = engine.start(SERVER, req, { anySource: true });
    expect(engine.handle(successFor(req), ROGUE)).toBe(true);
    expect((await done).from).toEqual(ROGUE);
  });

  it('acceptEcho completes on our own request coming back (RFC 5780 §4.5 hairpin)', async () => {
    const { engine } = recorder();
    const req = request();
    const plain = engine.start(SERVER, request());
    const echo = engine.start(SERVER, req, { acceptEcho: true });
    expect(engine.handle(req, { address: '192.168.1.2', port: 4000 })).toBe(true);
    expect((await echo).message.transactionId).toEqual(req.subarray(8, 20));
    engine.close();
    expect(await outcome(plain)).toBeInstanceOf(StunTransportError);
  });

  it('passes on what is not its own: non-STUN bytes, requests, indications, unknown ids', async () => {
    const { engine } = recorder();
    const req = request();
    const done = engine.start(SERVER, req);
    expect(engine.handle(new Uint8Array([0x40, 0, 0, 4, 1, 2, 3, 4]), SERVER)).toBe(false);
    expect(engine.handle(new Uint8Array([0xc1, 1, 2, 3]), SERVER)).toBe(false);
    expect(engine.handle(req, SERVER)).toBe(false); // our own request, not asked to accept it
    expect(engine.handle(request(), SERVER)).toBe(false); // someone's request
    expect(engine.handle(successFor(request()), SERVER)).toBe(false);
    expect(engine.stats).toMatchObject({
      ignoredUnknownTransaction: 1,
      ignoredWrongSource: 0,
      ignoredMalformed: 0,
    });
    engine.handle(successFor(req), SERVER);
    await done;
  });

  it('drops a response that fails FINGERPRINT or does not decode', async () => {
    const { engine } = recorder();
    const req = request();
    const done = engine.start(SERVER, req);
    const bad = successFor(req);
    bad[bad.length - 1]! ^= 0xff;
    expect(engine.handle(bad, SERVER)).toBe(false);
    const truncated = Uint8Array.from(successFor(req));
    truncated[3] = 200; // length field beyond the datagram
    expect(engine.handle(truncated, SERVER)).toBe(false);
    expect(engine.stats.ignoredMalformed).toBe(2);
    expect(engine.handle(successFor(req), SERVER)).toBe(true);
    await done;
  });

  it('resolves error responses too (the caller decides: TURN retries 401/438)', async () => {
    const { engine } = recorder();
    const req = request();
    const done = engine.start(SERVER, req);
    const err = new StunMessageBuilder(0x0111, req.subarray(8, 20))
      .addErrorCode(401, 'Unauthorized')
      .build();
    expect(engine.handle(err, SERVER)).toBe(true);
    expect((await done).message.cls).toBe(3);
  });
});

describe('StunTransactions bounds, abort, failure', () => {
  it('bounds the pending table with a typed overload error', async () => {
    const { engine, clock } = recorder({ maxPending: 2 });
    const a = request();
    const pa = engine.start(SERVER, a);
    const pb = outcome(engine.start(SERVER, request()));
    const err = await outcome(engine.start(SERVER, request()));
    expect(err).toBeInstanceOf(StunOverloadedError);
    expect((err as StunOverloadedError).code).toBe('NATPUSH_ERR_STUN_OVERLOADED');
    expect(engine.stats.overloaded).toBe(1);
    expect(engine.pending).toBe(2);
    engine.handle(successFor(a), SERVER);
    await pa;
    const pc = outcome(engine.start(SERVER, request())); // room again
    expect(engine.pending).toBe(2);
    await clock.advanceAsync(40_000);
    expect(await pb).toBeInstanceOf(StunTimeoutError);
    expect(await pc).toBeInstanceOf(StunTimeoutError);
  });

  it('AbortSignal cancels a transaction and its timer; an aborted signal refuses at once', async () => {
    const { engine, clock, sent } = recorder();
    const ac = new AbortController();
    const done = outcome(engine.start(SERVER, request(), { signal: ac.signal }));
    await clock.advanceAsync(600);
    ac.abort(new Error('user gave up'));
    const err = await done;
    expect(err).toBeInstanceOf(StunAbortedError);
    expect((err as Error).cause).toEqual(new Error('user gave up'));
    expect(engine.pending).toBe(0);
    expect(clock.pending).toBe(0);
    expect(engine.stats.aborted).toBe(1);
    await clock.advanceAsync(60_000);
    expect(sent).toHaveLength(2);
    expect(await outcome(engine.start(SERVER, request(), { signal: ac.signal }))).toBeInstanceOf(
      StunAbortedError,
    );
  });

  it('a send that throws fails the transaction with a transport error', async () => {
    let fail = false;
    const clock = new ManualClock();
    const engine = new StunTransactions({
      clock,
      send: () => {
        if (fail) throw new TypeError('socket is closed');
      },
    });
    const done = outcome(engine.start(SERVER, request()));
    fail = true;
    await clock.advanceAsync(500);
    const err = await done;
    expect(err).toBeInstanceOf(StunTransportError);
    expect(engine.stats).toMatchObject({ sent: 2, sendFailed: 1 });
    expect(clock.pending).toBe(0);
  });

  it('close() rejects everything outstanding and refuses new transactions', async () => {
    const { engine, clock } = recorder();
    const a = outcome(engine.start(SERVER, request()));
    engine.close();
    expect(await a).toBeInstanceOf(StunTransportError);
    expect(await outcome(engine.start(SERVER, request()))).toBeInstanceOf(StunTransportError);
    expect(clock.pending).toBe(0);
  });

  it('misuse throws: not a request, a transaction id already in flight, bad options', () => {
    const { engine } = recorder();
    const req = request();
    expect(() => engine.start(SERVER, new Uint8Array(20))).toThrow(TypeError);
    expect(() => engine.start(SERVER, successFor(req))).toThrow(TypeError);
    void engine.start(SERVER, req).catch(() => {});
    expect(() => engine.start(SERVER, req)).toThrow(TypeError);
    expect(() => engine.start(SERVER, request(), { retransmission: { rtoMs: 0 } })).toThrow(
      RangeError,
    );
    expect(() => engine.start(SERVER, request(), { timeoutMs: -1 })).toThrow(RangeError);
    expect(() => engine.start(SERVER, request(), { timeoutMs: Infinity })).toThrow(RangeError);
    expect(() => new StunTransactions({ send: () => {}, reliableTimeoutMs: Infinity })).toThrow(
      RangeError,
    );
    expect(() => new StunTransactions({ send: () => {}, maxPending: 0 })).toThrow(RangeError);
  });
});

describe('StunTransactions over a MemoryNetwork', () => {
  it('learns the mapped address through a NAT, and recovers from lost requests', async () => {
    const clock = new ManualClock();
    const net = new MemoryNetwork({ clock });
    const nat = net.addNat({ publicAddress: '198.51.100.7', behavior: NAT_PRESETS.symmetric });
    const host = net.addHost({ addresses: ['192.168.1.2'], behind: nat });
    const serverHost = net.addHost({ addresses: ['203.0.113.9'] });
    const server = await StunServer.start({
      net: serverHost,
      clock,
      listen: { address: '203.0.113.9', port: 3478 },
    });
    const socket = await host.bindUdp({ port: 40000 });
    const engine = new StunTransactions({ clock, send: (b, to) => socket.send(b, to) });
    const off = socket.onMessage((data, from) => engine.handle(data, from));
    cleanup.push(
      () => server.close(),
      () => socket.close(),
      off,
      () => engine.close(),
    );
    let drops = 2;
    const sentAt: number[] = [];
    const t0 = clock.now();
    net.dropIf((p) => {
      // Seen once per realm: count and drop requests as they leave the host, before the NAT.
      if (p.src.address !== '192.168.1.2') return false;
      sentAt.push(clock.now() - t0);
      return drops-- > 0;
    });
    const done = engine.start(server.primary, request());
    await clock.advanceAsync(1_500);
    const r = await done;
    expect(sentAt).toEqual([0, 500, 1500]);
    expect(r.attempts).toBe(3);
    expect(r.from).toEqual(expect.objectContaining({ address: '203.0.113.9', port: 3478 }));
    expect(readXorAddress(r.message, Attr.XorMappedAddress)?.address).toBe('198.51.100.7');
  });
});
