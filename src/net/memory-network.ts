/**
 * An in-memory IP network for unit tests: hosts, the "internet", and NAT boxes whose behaviour is
 * given in RFC 4787 terms (mapping × filtering, port preservation, hairpinning, mapping timeout on
 * the injected Clock). NATs nest, so a home NAT behind a carrier-grade NAT is two boxes.
 * Anchor: pion/transport `vnet` (router + NAT), which this follows with separate mapping and
 * filtering tables (vnet keys both on the filtering behaviour).
 *
 *   internet realm ── host 203.0.113.1 (a STUN server)
 *        │
 *        └─ NAT 198.51.100.7 ── inside realm ── host 192.168.1.2
 *
 * Routing: a packet goes to the node that owns its destination address in the sender's realm;
 * if none does and the realm is behind a NAT, the NAT translates it outbound and routes it in its
 * outside realm. Datagrams are delivered on a microtask (or after `latencyMs` on the clock), in
 * order, and are copied, like a kernel would. The NAT box itself is memory-nat.ts; its presets
 * are the rows of the one NAT table (nat-behavior.ts NAT_TYPES) that netsim uses too.
 */
import type { Clock } from '../util/clock.js';
import { MemoryNat, Realm, type DropReason, type Node, type Packet } from './memory-nat.js';
import type { NatBehavior } from './nat-behavior.js';
import { natBehavior } from './nat-behavior.js';
import type {
  Endpoint,
  ErrorListener,
  MessageListener,
  UdpBindOptions,
  UdpNetwork,
  UdpSocket,
} from './udp.js';
import { checkPort, familyOf } from './udp.js';
import { SocketListeners } from './listeners.js';

export type { DropReason, Packet } from './memory-nat.js';
export { MemoryNat } from './memory-nat.js';

export interface MemoryNetworkOptions {
  clock: Clock;
  /** One-way delay per hop on the clock; default 0 = delivered on a microtask. */
  latencyMs?: number;
  /** Seed for NAT port choice, so runs are repeatable; default 1. */
  seed?: number;
}

const EPHEMERAL_FIRST = 49152; // IANA dynamic range (RFC 6335 §6)

export class MemoryNetwork {
  readonly clock: Clock;
  readonly internet = new Realm(undefined);
  readonly dropped = new Map<DropReason, number>();
  delivered = 0;
  readonly #latencyMs: number;
  #rng: number;
  #filters: ((p: Packet) => boolean)[] = [];

  constructor(options: MemoryNetworkOptions) {
    this.clock = options.clock;
    this.#latencyMs = options.latencyMs ?? 0;
    this.#rng = options.seed ?? 1;
  }

  /** A NAT whose external address lives on the internet, or inside `behind` (CGN). */
  addNat(options: {
    publicAddress: string;
    behavior?: Partial<NatBehavior>;
    behind?: MemoryNat;
  }): MemoryNat {
    const outside = options.behind ? options.behind.inside : this.internet;
    claim(outside, options.publicAddress);
    const nat = new MemoryNat(this, outside, options.publicAddress, natBehavior(options.behavior));
    outside.nodes.set(options.publicAddress, nat);
    return nat;
  }

  /** A host with one or more addresses, on the internet or behind `behind`. */
  addHost(options: { addresses: string[]; behind?: MemoryNat }): MemoryHost {
    if (options.addresses.length === 0) throw new RangeError('a host needs an address');
    const realm = options.behind ? options.behind.inside : this.internet;
    const host = new MemoryHost(this, realm, options.addresses);
    for (const a of options.addresses) {
      claim(realm, a);
      realm.nodes.set(a, host);
    }
    return host;
  }

  /** Drop every packet for which `fn` returns true (tests: loss, one-way failures). */
  dropIf(fn: (p: Packet) => boolean): () => void {
    this.#filters.push(fn);
    return () => {
      this.#filters = this.#filters.filter((f) => f !== fn);
    };
  }

  /** @internal */
  route(realm: Realm, p: Packet): void {
    for (const f of this.#filters) {
      if (f(p)) return this.drop('test-filter');
    }
    const node = realm.nodes.get(p.dst.address);
    if (node) return this.#schedule(() => node.receive(p));
    if (realm.nat) return realm.nat.outbound(p);
    this.drop('no-route');
  }

  /** @internal */
  drop(reason: DropReason): void {
    this.dropped.set(reason, (this.dropped.get(reason) ?? 0) + 1);
  }

  /** @internal deterministic xorshift32 */
  random(): number {
    let x = this.#rng;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.#rng = x >>> 0 || 1;
    return this.#rng / 0x1_0000_0000;
  }

  #schedule(fn: () => void): void {
    if (this.#latencyMs > 0) this.clock.setTimeout(fn, this.#latencyMs);
    else queueMicrotask(fn);
  }
}

function claim(realm: Realm, address: string): void {
  if (realm.nodes.has(address)) throw new RangeError(`address ${address} is already in use`);
}

/** A host: a `UdpNetwork` whose sockets live on this host's addresses. */
export class MemoryHost implements Node, UdpNetwork {
  readonly #sockets = new Map<string, MemoryUdpSocket>();
  #nextPort = EPHEMERAL_FIRST;

  constructor(
    readonly network: MemoryNetwork,
    readonly realm: Realm,
    readonly addresses: readonly string[],
  ) {}

  get address(): string {
    return this.addresses[0]!;
  }

  bindUdp(options: UdpBindOptions = {}): Promise<UdpSocket> {
    const wildcard =
      options.address === undefined || options.address === '0.0.0.0' || options.address === '::';
    const address = wildcard ? '*' : options.address!;
    if (!wildcard && !this.addresses.includes(address)) {
      return Promise.reject(new Error(`EADDRNOTAVAIL: ${address} is not an address of this host`));
    }
    const port = options.port || this.#freePort(address);
    checkPort(port);
    if (this.#taken(address, port)) {
      return Promise.reject(new Error(`EADDRINUSE: ${address}:${port}`));
    }
    const socket = new MemoryUdpSocket(this, wildcard ? undefined : address, port);
    this.#sockets.set(`${address}:${port}`, socket);
    return Promise.resolve(socket);
  }

  receive(p: Packet): void {
    const s =
      this.#sockets.get(`${p.dst.address}:${p.dst.port}`) ?? this.#sockets.get(`*:${p.dst.port}`);
    if (!s) return this.network.drop('port-unreachable');
    this.network.delivered++;
    s.deliver(p.data, p.src);
  }

  /** @internal */
  send(from: Endpoint, to: Endpoint, data: Uint8Array): void {
    this.network.route(this.realm, { src: from, dst: to, data: Uint8Array.from(data) });
  }

  /** @internal */
  unbind(address: string | undefined, port: number): void {
    this.#sockets.delete(`${address ?? '*'}:${port}`);
  }

  #taken(address: string, port: number): boolean {
    if (this.#sockets.has(`*:${port}`)) return true;
    if (address === '*') return this.addresses.some((a) => this.#sockets.has(`${a}:${port}`));
    return this.#sockets.has(`${address}:${port}`);
  }

  #freePort(address: string): number {
    for (let i = 0; i < 65536 - EPHEMERAL_FIRST; i++) {
      const port = this.#nextPort;
      this.#nextPort = port === 65535 ? EPHEMERAL_FIRST : port + 1;
      if (!this.#taken(address, port)) return port;
    }
    throw new RangeError('memory host ran out of ephemeral ports');
  }
}

class MemoryUdpSocket implements UdpSocket {
  readonly #listeners = new SocketListeners();
  #closed = false;

  constructor(
    readonly host: MemoryHost,
    readonly boundAddress: string | undefined,
    readonly port: number,
  ) {}

  get closed(): boolean {
    return this.#closed;
  }

  address(): Endpoint {
    const address = this.boundAddress ?? this.host.address;
    return { address, port: this.port, family: familyOf(address) };
  }

  send(data: Uint8Array, to: Endpoint): void {
    if (this.#closed) throw new TypeError('send on a closed UDP socket');
    checkPort(to.port);
    this.host.send(this.address(), { address: to.address, port: to.port }, data);
  }

  onMessage(listener: MessageListener): () => void {
    return this.#listeners.onMessage(listener);
  }

  onError(listener: ErrorListener): () => void {
    return this.#listeners.onError(listener);
  }

  deliver(data: Uint8Array, from: Endpoint): void {
    if (this.#closed) return;
    this.#listeners.message(data, {
      address: from.address,
      port: from.port,
      family: familyOf(from.address),
    });
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.host.unbind(this.boundAddress, this.port);
    }
    return Promise.resolve();
  }
}
