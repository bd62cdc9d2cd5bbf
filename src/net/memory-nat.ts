/**
 * The in-memory NAT box of MemoryNetwork (memory-network.ts): RFC 4787 mapping (§4.1) and
 * filtering (§5) tables, port allocation (preserving, sequential, hashed or random — the
 * vocabulary of nat-behavior.ts NAT_TYPES), hairpinning (§6) and mapping timeout (§4.3) on the
 * injected clock. Anchor: pion/transport `vnet/nat.go`, which this follows with separate mapping
 * and filtering tables (vnet keys both on the filtering behaviour).
 */
import type { NatBehavior } from './nat-behavior.js';
import type { MemoryNetwork } from './memory-network.js';
import type { Endpoint } from './udp.js';
import { endpointKey } from './udp.js';

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

const NAT_PORT_FIRST = 1024; // Linux `random-fully` picks across 1024–65535

/** @internal Where a packet goes: a host or a NAT's external side. */
export interface Node {
  receive(p: Packet): void;
}

/** @internal One address space: the internet, or the inside of one NAT. */
export class Realm {
  readonly nodes = new Map<string, Node>();
  constructor(readonly nat: MemoryNat | undefined) {}
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
      externalPort: this.#allocatePort(src, dst),
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

  #allocatePort(src: Endpoint, dst: Endpoint): number {
    this.#expire();
    if (this.behavior.portPreservation && !this.#byPort.has(src.port)) return src.port;
    const span = 65536 - NAT_PORT_FIRST;
    if (this.#byPort.size >= span) throw new RangeError('memory NAT ran out of ports');
    if (this.behavior.hashedPorts && this.behavior.sequentialDelta === undefined) {
      // Like netsim's `hashed` rule (nat-rules.ts): the port depends on the internal endpoint
      // and the remote address only, so every port of one remote address gets the same one.
      let port = NAT_PORT_FIRST + (fnv1a(`${endpointKey(src)}>${dst.address}`) % span);
      while (this.#byPort.has(port)) port = port === 65535 ? NAT_PORT_FIRST : port + 1;
      return port;
    }
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

/** FNV-1a, 32 bits: a stable, well-spread hash of a short string. */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}
