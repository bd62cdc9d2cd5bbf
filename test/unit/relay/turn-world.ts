/**
 * The TURN server's unit-test world (test/unit/relay/server-*.test.ts): the server and its
 * clients on the in-memory network with a manual clock, and raw STUN requests for the error
 * paths a well-behaved client never takes.
 */
import type { Endpoint, UdpNetwork, UdpSocket } from '../../../src/net/index.js';
import { MemoryNetwork, NAT_PRESETS } from '../../../src/net/index.js';
import { TurnClient } from '../../../src/relay/client/client.js';
import { mintTurnCredentials, sharedSecret } from '../../../src/relay/credentials.js';
import type { TurnServerOptions } from '../../../src/relay/server/options.js';
import { createRelayServer, type TurnServer } from '../../../src/relay/server/turn-server.js';
import type { StunMessage } from '../../../src/stun/index.js';
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
} from '../../../src/stun/index.js';
import { ManualClock } from '../../../src/util/clock.js';

export const SERVER: Endpoint = { address: '203.0.113.1', port: 3478 };
export const SECRET = 'test-secret';

/** Lets every queued microtask and I/O callback run (the memory network delivers on microtasks). */
export const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

export interface World {
  clock: ManualClock;
  net: MemoryNetwork;
  server: TurnServer;
  closers: (() => Promise<void>)[];
}

let world: World | undefined;

/** Close what setup() opened, last first (each test file: `afterEach(closeWorld)`). */
export async function closeWorld(): Promise<void> {
  for (const c of world?.closers.reverse() ?? []) await c();
  world = undefined;
}

export async function setup(extra: Partial<TurnServerOptions> = {}): Promise<World> {
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
export async function peer(
  w: World,
  address: string,
): Promise<{ socket: UdpSocket; got: Uint8Array[] }> {
  const socket = await w.net.addHost({ addresses: [address] }).bindUdp({ port: 5000 });
  const got: Uint8Array[] = [];
  socket.onMessage((d) => got.push(Uint8Array.from(d)));
  w.closers.push(() => socket.close());
  return { socket, got };
}

let natCount = 0;
/** A client host behind a NAT of the given preset. */
export function clientHost(w: World, preset: keyof typeof NAT_PRESETS = 'symmetric') {
  natCount++;
  const nat = w.net.addNat({
    publicAddress: `198.51.100.${100 + natCount}`,
    behavior: NAT_PRESETS[preset],
  });
  return w.net.addHost({ addresses: [`192.168.${natCount}.2`], behind: nat });
}

export async function client(
  w: World,
  userId = 'alice',
  extra: { lifetimeSeconds?: number; net?: UdpNetwork } = {},
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
export class Raw {
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

  /** A raw client that allocated (401, then a signed Allocate answered with success). */
  static async allocated(w: World, userId = 'raw'): Promise<Raw> {
    const r = await Raw.open(w, userId);
    await r.challenge();
    const res = await r.send(r.signed(allocateRequest()));
    if (res.cls !== StunClass.Success) throw new Error(`allocate failed: ${code(res)}`);
    return r;
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

export function allocateRequest(transport: number = TransportProtocol.UDP): StunMessageBuilder {
  return StunMessageBuilder.of(Method.Allocate, StunClass.Request).addRequestedTransport(transport);
}

export const code = (m: StunMessage): number | undefined => readErrorCode(m)?.code;
