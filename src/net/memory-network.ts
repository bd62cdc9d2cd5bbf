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
 * order, and are copied, like a kernel would.
 */
import type { Clock } from '../util/clock.js';
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
import { checkPort, endpointKey, familyOf } from './udp.js';
import { SocketListeners } from './listeners.js';

export interface Packet {
  readonly src: Endpoint;
  readonly dst: Endpoint;
  readonly data: Uint8Array;
}

export type DropReason =
  | 'no-route'
  | 'port-unreachable'
  | 'udp-blocked'
  | 'no-mapping'
  | 'filtered'
  | 'no-hairpin'
  | 'test-filter';

export interface MemoryNetworkOptions {
  clock: Clock;
  /** One-way delay per hop on the clock; default 0 = delivered on a microtask. */
  latencyMs?: number;
  /** Seed for NAT port choice, so runs are repeatable; default 1. */
  seed?: number;
}

const EPHEMERAL_FIRST = 49152; // IANA dynamic range (RFC 6335 §6)
const NAT_PORT_FIRST = 1024; // Linux `random-fully` picks across 1024–65535

interface Node {
  receive(p: Packet): void;
}

class Realm {
  readonly nodes = new Map<string, Node>();
  constructor(readonly nat: MemoryNat | undefined) {}
}

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

interface Mapping {
  readonly key: string;
  readonly internal: Endpoint;
  readonly externalPort: number;
  lastActive: number;
  /** Remote addresses / endpoints this mapping sent to (RFC 4787 §5 filtering state). */
  readonly sentToAddress: Set<string>;
  readonly sentToEndpoint: Set<string>;
}

/** A NAT box. `inside` is the realm of its private side. */
export class MemoryNat implements Node {
  readonly inside = new Realm(this);
  readonly #byKey = new Map<string, Mapping>();
  readonly #byPort = new Map<number, Mapping>();
  /** Last port handed out by the sequential allocator (behavior.sequentialDelta). */
  #lastSequential = 20_000;

  constructor(
    readonly network: MemoryNetwork,
    readonly outside: Realm,
    readonly publicAddress: string,
    readonly behavior: NatBehavior,
  ) {}

  /** Live mappings (expired ones are not counted). */
  get mappingCount(): number {
    this.#expire();
    return this.#byKey.size;
  }

  /** A packet from the inside realm to an address that is not inside. */
  outbound(p: Packet): void {
    if (this.behavior.blockUdp) return this.network.drop('udp-blocked');
    const m = this.#mappingFor(p.src, p.dst);
    m.lastActive = this.network.clock.now();
    m.sentToAddress.add(p.dst.address);
    m.sentToEndpoint.add(endpointKey(p.dst));
    const translated: Packet = {
      src: { address: this.publicAddress, port: m.externalPort },
      dst: p.dst,
      data: p.data,
    };
    if (p.dst.address === this.publicAddress) {
      // RFC 4787 §6 / REQ-9: hairpinning keeps the external source address.
      if (!this.behavior.hairpinning) return this.network.drop('no-hairpin');
      return this.receive(translated);
    }
    this.network.route(this.outside, translated);
  }

  /** A packet addressed to the NAT's external address. */
  receive(p: Packet): void {
    const m = this.#byPort.get(p.dst.port);
    if (!m || this.#expired(m)) {
      if (m) this.#remove(m);
      return this.network.drop('no-mapping');
    }
    if (!this.#allows(m, p.src)) return this.network.drop('filtered');
    // RFC 4787 REQ-6: only outbound packets refresh a mapping, so inbound does not touch lastActive.
    this.network.route(this.inside, { src: p.src, dst: m.internal, data: p.data });
  }

  #allows(m: Mapping, from: Endpoint): boolean {
    switch (this.behavior.filtering) {
      case 'endpoint-independent':
        return true;
      case 'address-dependent':
        return m.sentToAddress.has(from.address);
      case 'address-and-port-dependent':
        return m.sentToEndpoint.has(endpointKey(from));
    }
  }

  #mappingFor(src: Endpoint, dst: Endpoint): Mapping {
    const key = this.#key(src, dst);
    const existing = this.#byKey.get(key);
    if (existing && !this.#expired(existing)) return existing;
    if (existing) this.#remove(existing);
    const m: Mapping = {
      key,
      internal: { address: src.address, port: src.port },
      externalPort: this.#allocatePort(src.port),
      lastActive: this.network.clock.now(),
      sentToAddress: new Set(),
      sentToEndpoint: new Set(),
    };
    this.#byKey.set(key, m);
    this.#byPort.set(m.externalPort, m);
    return m;
  }

  /** RFC 4787 §4.1: the mapping is reused for destinations that the behaviour deems equal. */
  #key(src: Endpoint, dst: Endpoint): string {
    const s = endpointKey(src);
    switch (this.behavior.mapping) {
      case 'endpoint-independent':
        return s;
      case 'address-dependent':
        return `${s}>${dst.address}`;
      case 'address-and-port-dependent':
        return `${s}>${endpointKey(dst)}`;
    }
  }

  #allocatePort(internalPort: number): number {
    this.#expire();
    if (this.behavior.portPreservation && !this.#byPort.has(internalPort)) return internalPort;
    const span = 65536 - NAT_PORT_FIRST;
    if (this.#byPort.size >= span) throw new RangeError('memory NAT ran out of ports');
    const delta = this.behavior.sequentialDelta;
    if (delta !== undefined) {
      for (;;) {
        const next = this.#lastSequential + delta;
        this.#lastSequential = next > 65535 ? NAT_PORT_FIRST : next;
        if (!this.#byPort.has(this.#lastSequential)) return this.#lastSequential;
      }
    }
    for (;;) {
      const port = NAT_PORT_FIRST + Math.floor(this.network.random() * span);
      if (!this.#byPort.has(port)) return port;
    }
  }

  #expired(m: Mapping): boolean {
    return this.network.clock.now() - m.lastActive >= this.behavior.mappingTimeoutMs;
  }

  #expire(): void {
    for (const m of this.#byKey.values()) if (this.#expired(m)) this.#remove(m);
  }

  #remove(m: Mapping): void {
    this.#byKey.delete(m.key);
    if (this.#byPort.get(m.externalPort) === m) this.#byPort.delete(m.externalPort);
  }
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
