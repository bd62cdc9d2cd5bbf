/**
 * The network, injected (STYLE.md §3). Components that speak UDP take a `UdpNetwork` instead of
 * reaching for `node:dgram`, so unit tests run them on a `MemoryNetwork` (NAT boxes included) and
 * production runs them on `nodeUdpNetwork`.
 *
 * The interface is deliberately small: bind, send, receive (with the remote endpoint), close.
 * One socket can have several message listeners because one UDP socket per peer carries STUN,
 * TURN and natpush's own frames (DESIGN.md "One UDP socket per peer"); each listener looks at the
 * first byte (RFC 7983) and ignores what is not its own.
 */

import { parseHostPort } from './host-port.js';

/** An IP address and UDP port. `family` is derived from the address when absent. */
export interface Endpoint {
  readonly address: string;
  readonly port: number;
  readonly family?: 'IPv4' | 'IPv6';
}

export type MessageListener = (data: Uint8Array, from: Endpoint) => void;
export type ErrorListener = (err: Error) => void;

export interface UdpSocket {
  /** The local address and port actually bound (port 0 resolved). */
  address(): Endpoint;
  /**
   * Queue one datagram. Never throws for network failures (unreachable, buffer full): those are
   * reported to error listeners, because UDP is best-effort and callers retransmit anyway.
   * Throws TypeError/RangeError for programmer misuse (bad port, closed socket).
   */
  send(data: Uint8Array, to: Endpoint): void;
  /** Add a listener for incoming datagrams; returns a function that removes it. */
  onMessage(listener: MessageListener): () => void;
  /** Add a listener for asynchronous socket errors; returns a function that removes it. */
  onError(listener: ErrorListener): () => void;
  /** Close the socket; idempotent. */
  close(): Promise<void>;
  readonly closed: boolean;
}

export interface UdpBindOptions {
  /** Local address; default '0.0.0.0' (or the host's only address on a MemoryNetwork). */
  address?: string;
  /** Local port; default 0 (any free port). */
  port?: number;
  /** Socket family when `address` is absent; default 'IPv4'. */
  family?: 'IPv4' | 'IPv6';
  /**
   * Sharing the port with other processes (`relay/stun --workers`): 'reuseport' sets SO_REUSEPORT
   * (dgram `reusePort`, Node >= 22.12) so the kernel keeps each remote 5-tuple on one process;
   * 'cluster' takes node:cluster's one handle shared by every worker (any worker reads any
   * datagram: stateless servers only). Default: a socket of this process alone, even in a cluster
   * worker (relayed sockets must never be shared).
   */
  share?: 'reuseport' | 'cluster';
}

export interface UdpNetwork {
  bindUdp(options?: UdpBindOptions): Promise<UdpSocket>;
}

export function endpointKey(e: Endpoint): string {
  return e.address.includes(':') ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`;
}

export function familyOf(address: string): 'IPv4' | 'IPv6' {
  return address.includes(':') ? 'IPv6' : 'IPv4';
}

export function sameEndpoint(a: Endpoint, b: Endpoint): boolean {
  return a.port === b.port && normalizeAddress(a.address) === normalizeAddress(b.address);
}

/** '::ffff:1.2.3.4' → '1.2.3.4', so dual-stack sockets compare equal to IPv4 endpoints. */
export function normalizeAddress(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

/**
 * Parse `host:port` / `[v6]:port` as typed at a command line: host-port.ts `parseHostPort` (the
 * one parser; port 0 allowed here). Throws TypeError on malformed input (this is called at the
 * edge, where a bad string is a usage error the CLI reports).
 */
export function parseEndpoint(text: string, defaultPort?: number): Endpoint {
  try {
    return parseHostPort(text, {
      flag: 'address',
      zeroPort: true,
      ...(defaultPort !== undefined ? { defaultPort } : {}),
    });
  } catch (err) {
    throw new TypeError((err as Error).message);
  }
}

export function checkPort(port: number): void {
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`port must be an integer 0..65535, got ${port}`);
  }
}
