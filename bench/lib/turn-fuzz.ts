/**
 * Fuzzing of TURN input (the STUN fuzz loop extended to ChannelData and TURN attributes), shared
 * by test/unit/relay/fuzz.test.ts (short) and bench/turn-fuzz.ts (long). Seeded and repeatable.
 *
 * - ChannelData decoding and the TCP stream de-framer take random and mutated bytes: decoding
 *   never throws, the de-framer throws only StreamFramingError and never holds more than a frame.
 * - A TURN server on the in-memory network takes mutated TURN requests (Allocate, Refresh,
 *   CreatePermission, ChannelBind, Send, with valid credentials so the handlers run), ChannelData
 *   and random bytes from several clients: it never fails a request with 500 (an unexpected
 *   exception), never logs an error, and afterwards still allocates and relays for a good client.
 */
import { MemoryNetwork } from '../../src/net/index.js';
import type { UdpSocket } from '../../src/net/index.js';
import { decodeChannelData, encodeChannelData } from '../../src/relay/channel-data.js';
import { TurnClient } from '../../src/relay/client/client.js';
import { mintTurnCredentials, sharedSecret } from '../../src/relay/credentials.js';
import { createRelayServer } from '../../src/relay/server/turn-server.js';
import { StreamDeframer, StreamFramingError } from '../../src/relay/stream-framer.js';
import {
  Attr,
  decodeStunMessage,
  longTermKey,
  Method,
  readErrorCode,
  readString,
  StunClass,
  StunMessageBuilder,
  TransportProtocol,
} from '../../src/stun/index.js';
import { ManualClock } from '../../src/util/clock.js';
import type { Logger } from '../../src/util/logger.js';
import { mutate, Rng } from './stun-fuzz.js';

export interface ChannelDataFuzzResult {
  inputs: number;
  decoded: number;
  framed: number;
  framingErrors: number;
}

/** ChannelData decoder and stream de-framer over random and mutated bytes. */
export function fuzzChannelData(count: number, seed: number): ChannelDataFuzzResult {
  const rng = new Rng(seed);
  const r: ChannelDataFuzzResult = { inputs: 0, decoded: 0, framed: 0, framingErrors: 0 };
  const good = encodeChannelData(0x4001, rng.bytes(37), true);
  for (let i = 0; i < count; i++) {
    const input = rng.int(2) === 0 ? rng.bytes(rng.int(80)) : mutate(rng, good);
    r.inputs++;
    if (decodeChannelData(input)) r.decoded++;
    const d = new StreamDeframer(() => r.framed++, 4096);
    try {
      for (let o = 0; o < input.length;) {
        const n = 1 + rng.int(16);
        d.push(input.subarray(o, o + n));
        o += n;
      }
      if (d.buffered > 4096) throw new Error(`de-framer holds ${d.buffered} bytes`);
    } catch (err) {
      if (!(err instanceof StreamFramingError)) throw err;
      r.framingErrors++;
    }
  }
  return r;
}

export interface ServerFuzzResult {
  inputs: number;
  serverErrors: number;
  errorLogs: string[];
  counters: Record<string, unknown>;
}

const SECRET = 'fuzz';
const SERVER = { address: '203.0.113.1', port: 3478 };
const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

/** TURN request templates, signed with valid credentials, so mutations reach the handlers. */
export function templates(
  rng: Rng,
  username: string,
  realm: string,
  nonce: string,
  key: Uint8Array,
): Uint8Array[] {
  const peer = { address: '198.51.100.7', port: 5000 + rng.int(100) };
  const sign = (b: StunMessageBuilder): Uint8Array =>
    Uint8Array.from(
      b
        .addString(Attr.Username, username)
        .addString(Attr.Realm, realm)
        .addString(Attr.Nonce, nonce)
        .addIntegrity(key)
        .addFingerprint()
        .build(),
    );
  const req = (m: number): StunMessageBuilder => StunMessageBuilder.of(m, StunClass.Request);
  return [
    sign(
      req(Method.Allocate)
        .addRequestedTransport(TransportProtocol.UDP)
        .addUint32(Attr.Lifetime, rng.int(5000)),
    ),
    sign(
      req(Method.Allocate)
        .addRequestedTransport(TransportProtocol.UDP)
        .addEvenPort(rng.int(2) === 0),
    ),
    sign(req(Method.Refresh).addUint32(Attr.Lifetime, rng.int(3) * 300)),
    sign(req(Method.CreatePermission).addXorAddress(Attr.XorPeerAddress, peer)),
    sign(
      req(Method.ChannelBind)
        .addChannelNumber(0x4000 + rng.int(0x4000))
        .addXorAddress(Attr.XorPeerAddress, peer),
    ),
    Uint8Array.from(
      StunMessageBuilder.of(Method.Send, StunClass.Indication)
        .addXorAddress(Attr.XorPeerAddress, peer)
        .addBytes(Attr.Data, rng.bytes(rng.int(64)))
        .build(),
    ),
    encodeChannelData(0x4000 + rng.int(0x4000), rng.bytes(rng.int(64)), rng.int(2) === 0),
  ];
}

/** Mutated TURN traffic from several clients at one server; then a good client must still work. */
export async function fuzzTurnServer(count: number, seed: number): Promise<ServerFuzzResult> {
  const rng = new Rng(seed);
  const clock = new ManualClock();
  const net = new MemoryNetwork({ clock });
  const errorLogs: string[] = [];
  const logger: Logger = {
    debug: () => {},
    info: () => {},
    warn: () => {},
    error: (msg, fields) => errorLogs.push(`${msg} ${JSON.stringify(fields)}`),
  };
  const server = await createRelayServer({
    net: net.addHost({ addresses: [SERVER.address] }),
    clock,
    logger,
    listenAddress: SERVER.address,
    port: SERVER.port,
    relayAddress: SERVER.address,
    credentials: sharedSecret(SECRET),
    maxAllocationsPerUser: 1000,
  });
  const peerHost = net.addHost({ addresses: ['198.51.100.7'] });
  const peerSocket = await peerHost.bindUdp({ port: 5000 });
  const sockets: UdpSocket[] = [];
  let serverErrors = 0;
  try {
    for (let i = 0; i < 4; i++) {
      const s = await net.addHost({ addresses: [`198.51.100.${20 + i}`] }).bindUdp({ port: 0 });
      s.onMessage((d) => {
        try {
          const m = decodeStunMessage(Uint8Array.from(d));
          if (m.cls === StunClass.Error && readErrorCode(m)?.code === 500) serverErrors++;
        } catch {
          // ChannelData / Data to our fuzz clients: not what we check.
        }
      });
      sockets.push(s);
    }
    const creds = mintTurnCredentials(SECRET, 'fuzzer', 86_400, clock.now());
    // Learn the realm and a nonce per socket (nonces are bound to the client address).
    const nonces: string[] = [];
    for (const s of sockets) {
      const got = new Promise<string>((resolve) => {
        const off = s.onMessage((d) => {
          off();
          resolve(readString(decodeStunMessage(Uint8Array.from(d)), Attr.Nonce) ?? '');
        });
      });
      s.send(
        StunMessageBuilder.of(Method.Allocate, StunClass.Request).addRequestedTransport(17).build(),
        SERVER,
      );
      await settle();
      nonces.push(await got);
    }
    const key = longTermKey(creds.username, 'natpush', creds.password);
    for (let i = 0; i < count; i++) {
      const which = rng.int(sockets.length);
      const t = templates(rng, creds.username, 'natpush', nonces[which]!, key);
      const base = t[rng.int(t.length)]!;
      const input =
        rng.int(4) === 0 ? base : rng.int(8) === 0 ? rng.bytes(rng.int(100)) : mutate(rng, base);
      sockets[which]!.send(input, SERVER);
      if (rng.int(16) === 0)
        peerSocket.send(rng.bytes(rng.int(50)), {
          address: SERVER.address,
          port: 49152 + rng.int(64),
        });
      if (i % 64 === 63) {
        await settle();
        if (rng.int(8) === 0) await clock.advanceAsync(rng.int(400_000));
      }
    }
    await settle();
    await goodClientStillWorks(net, clock, peerSocket);
  } finally {
    for (const s of sockets) await s.close();
    await peerSocket.close();
    await server.close();
  }
  return { inputs: count, serverErrors, errorLogs, counters: server.counters.snapshot() };
}

async function goodClientStillWorks(
  net: MemoryNetwork,
  clock: ManualClock,
  peer: UdpSocket,
): Promise<void> {
  const creds = mintTurnCredentials(SECRET, 'good', 3600, clock.now());
  const c = await TurnClient.allocate({
    server: SERVER,
    username: creds.username,
    password: creds.password,
    net: net.addHost({ addresses: ['198.51.100.99'] }),
    clock,
  });
  try {
    await c.bindChannel(peer.address());
    const got = new Promise<void>((resolve) => peer.onMessage((d) => d[0] === 0xee && resolve()));
    c.send(peer.address(), Uint8Array.of(0xee));
    await settle();
    await got;
  } finally {
    await c.close();
  }
}
