/**
 * The STUN server on the in-memory network: RFC 5780 behaviour, amplification bound, rate
 * limits, error handling and counters.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Endpoint, UdpSocket } from '../../../src/net/index.js';
import { MemoryNetwork } from '../../../src/net/index.js';
import {
  Attr,
  BINDING_REQUEST,
  StunClass,
  StunClient,
  StunErrorResponse,
  StunMessageBuilder,
  StunServer,
  decodeStunMessage,
  readAddress,
  readErrorCode,
  readUnknownAttributes,
  readXorAddress,
} from '../../../src/stun/index.js';
import type { StunServerOptions } from '../../../src/stun/index.js';
import { ManualClock } from '../../../src/util/clock.js';

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

const A1 = '203.0.113.1';
const A2 = '203.0.113.2';

async function setup(options: Partial<StunServerOptions> = {}) {
  const clock = new ManualClock();
  const net = new MemoryNetwork({ clock });
  const serverHost = net.addHost({ addresses: [A1, A2] });
  const server = await StunServer.start({
    net: serverHost,
    clock,
    listen: { address: A1, port: 3478 },
    alternate: { address: A2, port: 3479 },
    ...options,
  });
  const socket = await net.addHost({ addresses: ['198.51.100.20'] }).bindUdp({ port: 5555 });
  const client = new StunClient({ socket, clock });
  cleanup.push(
    () => server.close(),
    () => socket.close(),
    () => client.close(),
  );
  return { clock, net, server, socket, client };
}

/** Send raw bytes and collect what comes back, from where. */
async function exchange(socket: UdpSocket, to: Endpoint, bytes: Uint8Array) {
  const got: { data: Uint8Array; from: Endpoint }[] = [];
  const off = socket.onMessage((data, from) => got.push({ data, from }));
  socket.send(bytes, to);
  for (let i = 0; i < 20; i++) await Promise.resolve();
  off();
  return got;
}

const PRIMARY = { address: A1, port: 3478 };

describe('StunServer (RFC 5780)', () => {
  it('listens on the four RFC 5780 addresses', async () => {
    const { server } = await setup();
    expect(server.addresses()).toEqual([
      { address: A1, port: 3478, family: 'IPv4' },
      { address: A1, port: 3479, family: 'IPv4' },
      { address: A2, port: 3478, family: 'IPv4' },
      { address: A2, port: 3479, family: 'IPv4' },
    ]);
  });

  it.each([
    [{}, A1, 3478],
    [{ port: true }, A1, 3479],
    [{ ip: true }, A2, 3478],
    [{ ip: true, port: true }, A2, 3479],
  ])(
    'CHANGE-REQUEST %o is answered from %s:%i with RESPONSE-ORIGIN and OTHER-ADDRESS',
    async (change, addr, port) => {
      const { client } = await setup();
      const r = await client.binding(PRIMARY, {
        changeRequest: change,
        anySource: true,
        padTo: 120,
      });
      expect(r.from).toMatchObject({ address: addr, port });
      expect(r.responseOrigin).toMatchObject({ address: addr, port });
      expect(r.otherAddress).toMatchObject({ address: A2, port: 3479 });
      expect(r.mapped).toMatchObject({ address: '198.51.100.20', port: 5555 });
    },
  );

  it('answers a change of address with 420 when there is no alternate address', async () => {
    const { client, server } = await setup({ alternate: { port: 3479 } });
    expect(server.other).toMatchObject({ address: A1, port: 3479 });
    const err = await client
      .binding(PRIMARY, { changeRequest: { ip: true } })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StunErrorResponse);
    expect((err as StunErrorResponse).errorCode).toBe(420);
    const ok = await client.binding(PRIMARY, { changeRequest: { port: true }, anySource: true });
    expect(ok.from.port).toBe(3479);
  });
});

describe('StunServer port selection', () => {
  it('with port 0, picks another port when the number is taken on the alternate address', async () => {
    const clock = new ManualClock();
    const net = new MemoryNetwork({ clock });
    const host = net.addHost({ addresses: [A1, A2] });
    // The memory host hands out ephemeral ports in order, so the first choice (49152) is known.
    const squatter = await host.bindUdp({ address: A2, port: 49152 });
    cleanup.push(() => squatter.close());
    const server = await StunServer.start({
      net: host,
      clock,
      listen: { address: A1, port: 0 },
      alternate: { address: A2, port: 0 },
    });
    cleanup.push(() => server.close());
    expect(server.primary.port).not.toBe(49152);
    expect(server.addresses()).toHaveLength(4);
  });

  it('with a fixed port, EADDRINUSE is reported, not retried', async () => {
    const clock = new ManualClock();
    const host = new MemoryNetwork({ clock }).addHost({ addresses: [A1] });
    const squatter = await host.bindUdp({ address: A1, port: 3478 });
    cleanup.push(() => squatter.close());
    await expect(
      StunServer.start({ net: host, clock, listen: { address: A1, port: 3478 } }),
    ).rejects.toThrow(/EADDRINUSE/);
  });
});

describe('StunServer limits', () => {
  it('a minimal request gets at most twice its size on the wire: mapped, other and origin', async () => {
    const { socket } = await setup();
    const req = new StunMessageBuilder(BINDING_REQUEST).build();
    expect(req.length).toBe(20);
    const [res] = await exchange(socket, PRIMARY, req);
    // IPv4 + UDP headers are 28 bytes: (20 + 28) × 2 − 28 = 68.
    expect(res!.data.length).toBeLessThanOrEqual(68);
    const m = decodeStunMessage(res!.data);
    expect(readXorAddress(m, Attr.XorMappedAddress)).toMatchObject({
      address: '198.51.100.20',
      port: 5555,
    });
    expect(readAddress(m, Attr.OtherAddress)).toMatchObject({ address: A2, port: 3479 });
    expect(readAddress(m, Attr.ResponseOrigin)).toMatchObject(PRIMARY);
  });

  it('a padded request gets every attribute; the response never exceeds 2x the request on the wire', async () => {
    const { socket } = await setup();
    for (const pad of [0, 8, 16, 24, 40, 80]) {
      const b = new StunMessageBuilder(BINDING_REQUEST);
      if (pad) b.addBytes(Attr.Padding, new Uint8Array(pad));
      const req = b.addFingerprint().build();
      const [res] = await exchange(socket, PRIMARY, req);
      expect(res!.data.length + 28).toBeLessThanOrEqual(2 * (req.length + 28));
      if (pad === 80) {
        const m = decodeStunMessage(res!.data);
        expect(readAddress(m, Attr.OtherAddress)).toMatchObject({ address: A2, port: 3479 });
        expect(readAddress(m, Attr.ResponseOrigin)).toMatchObject(PRIMARY);
        expect(m.has(Attr.Software)).toBe(true);
        expect(m.has(Attr.Fingerprint)).toBe(true);
      }
    }
  });

  it('maxAmplification 1 leaves only the mapped address for a bare request', async () => {
    const { socket } = await setup({ maxAmplification: 1 });
    const [res] = await exchange(socket, PRIMARY, new StunMessageBuilder(BINDING_REQUEST).build());
    expect(res!.data.length).toBe(32);
  });

  it('rate-limits per source address and refills on the clock', async () => {
    const { socket, server, clock } = await setup({ rateLimit: { perSecond: 10, burst: 5 } });
    const req = (): Uint8Array => new StunMessageBuilder(BINDING_REQUEST).build();
    let answered = 0;
    socket.onMessage(() => answered++);
    for (let i = 0; i < 8; i++) socket.send(req(), PRIMARY);
    for (let i = 0; i < 20; i++) await Promise.resolve();
    expect(answered).toBe(5);
    expect(server.stats.dropped['rate-limited']).toBe(3);
    clock.advance(200); // 10/s → 2 tokens
    for (let i = 0; i < 3; i++) socket.send(req(), PRIMARY);
    for (let i = 0; i < 20; i++) await Promise.resolve();
    expect(answered).toBe(7);
    expect(server.stats.dropped['rate-limited']).toBe(4);
  });

  it('420 for unknown required attributes, 400 for other methods, silence for junk; counters', async () => {
    const { socket, server } = await setup();
    const unknown = new StunMessageBuilder(BINDING_REQUEST)
      .addBytes(0x0077, new Uint8Array(4))
      .build();
    const [res] = await exchange(socket, PRIMARY, unknown);
    const m = decodeStunMessage(res!.data);
    expect(m.cls).toBe(StunClass.Error);
    expect(readErrorCode(m)?.code).toBe(420);
    expect(readUnknownAttributes(m)).toEqual([0x0077]);
    const junk = Buffer.from(new StunMessageBuilder(BINDING_REQUEST).build());
    junk[3] = 8; // length field lies
    expect(await exchange(socket, PRIMARY, junk)).toHaveLength(0);
    expect(await exchange(socket, PRIMARY, new Uint8Array([1, 2, 3]))).toHaveLength(0);
    const indication = new StunMessageBuilder(0x0011).build();
    expect(await exchange(socket, PRIMARY, indication)).toHaveLength(0);
    const allocate = new StunMessageBuilder(0x0003).build();
    const [bad] = await exchange(socket, PRIMARY, allocate);
    const b = decodeStunMessage(bad!.data);
    expect([b.type, readErrorCode(b)?.code, bad!.data.length]).toEqual([0x0113, 400, 40]);
    expect(server.stats).toMatchObject({
      received: 5,
      answered: { binding: 0, change: 0, error: 2 },
      dropped: { malformed: 1, 'not-stun': 1, 'not-request': 1 },
    });
  });

  it('Binding answers of all sources together stay within the bytes/s budget (spoofed sources)', async () => {
    // 50 sources × 10 requests: each far under its own limit (burst 400), so only the
    // process-wide budget binds, as when a flood spoofs a new source address per packet.
    const budget = 5_000;
    const { server, net, clock } = await setup({ replyBytesPerSecond: budget });
    const sources: UdpSocket[] = [];
    let replies = 0;
    let wire = 0;
    for (let i = 0; i < 50; i++) {
      const s = await net.addHost({ addresses: [`198.18.0.${i + 1}`] }).bindUdp({ port: 4000 });
      cleanup.push(() => s.close());
      s.onMessage((d) => {
        replies++;
        wire += d.length + 28; // IPv4 + UDP headers, as the budget counts them
      });
      sources.push(s);
    }
    const req = new StunMessageBuilder(BINDING_REQUEST).build();
    const flood = async (): Promise<void> => {
      for (let round = 0; round < 10; round++) for (const s of sources) s.send(req, PRIMARY);
      await new Promise((r) => setImmediate(r));
    };
    await flood();
    expect(replies).toBeGreaterThan(0);
    expect(wire).toBeLessThanOrEqual(budget);
    const each = wire / replies; // every answer is the same size (the bare-request template)
    expect(wire).toBeGreaterThan(budget - each); // the budget is used, not undershot
    expect(server.stats.received).toBe(500);
    expect(server.stats.answered.binding).toBe(replies);
    expect(server.stats.dropped['reply-budget']).toBe(500 - replies);
    expect(server.stats.dropped['rate-limited']).toBe(0);
    // A second later the budget has refilled by a second's worth, and no more.
    const before = replies;
    clock.advance(1_000);
    await flood();
    expect(replies - before).toBe(Math.floor(budget / each));
  });

  it('the reply budget cannot be switched off', async () => {
    await expect(setup({ replyBytesPerSecond: 0 })).rejects.toThrow(RangeError);
    await expect(setup({ replyBytesPerSecond: Infinity })).rejects.toThrow(RangeError);
  });
});
