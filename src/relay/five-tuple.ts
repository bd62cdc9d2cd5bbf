/**
 * The 5-tuple that names an allocation (RFC 8656 §2, §3.1): client transport address, server
 * transport address and the transport protocol between them.
 */

/** An IP address and port; structurally the same as `net`'s Endpoint. */
export interface TransportAddress {
  readonly address: string;
  readonly port: number;
}

/** '::ffff:1.2.3.4' → '1.2.3.4': dual-stack sockets report IPv4 peers in mapped form. */
function unmapped(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

export type ClientTransport = 'udp' | 'tcp' | 'tls';

export interface FiveTuple {
  readonly transport: ClientTransport;
  readonly client: TransportAddress;
  readonly server: TransportAddress;
}

/** A stable string key (not used on the hot path, which looks up by address then port). */
export function fiveTupleKey(t: FiveTuple): string {
  return `${t.transport}|${unmapped(t.client.address)}|${t.client.port}|${unmapped(t.server.address)}|${t.server.port}`;
}

/**
 * A two-level map address → port → value: looking a datagram's sender up allocates nothing
 * (`rinfo.address` is already a string and the port a number), unlike building a key string
 * per packet.
 */
export class EndpointMap<V> {
  readonly #byAddress = new Map<string, Map<number, V>>();
  #size = 0;

  get size(): number {
    return this.#size;
  }

  get(address: string, port: number): V | undefined {
    return this.#byAddress.get(address)?.get(port);
  }

  set(address: string, port: number, value: V): void {
    let ports = this.#byAddress.get(address);
    if (!ports) {
      ports = new Map();
      this.#byAddress.set(address, ports);
    }
    if (!ports.has(port)) this.#size++;
    ports.set(port, value);
  }

  delete(address: string, port: number): boolean {
    const ports = this.#byAddress.get(address);
    if (!ports?.delete(port)) return false;
    this.#size--;
    if (ports.size === 0) this.#byAddress.delete(address);
    return true;
  }

  *values(): IterableIterator<V> {
    for (const ports of this.#byAddress.values()) yield* ports.values();
  }

  clear(): void {
    this.#byAddress.clear();
    this.#size = 0;
  }
}
