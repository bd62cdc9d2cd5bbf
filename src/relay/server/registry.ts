/**
 * The server's allocations (RFC 8656 §5: one per 5-tuple), as pion/turn's allocation manager:
 * found by the client's transport address (UDP) or held on the TCP connection (§3.1), with the
 * quotas an allocation holds while it lives and the relayed transport addresses it occupies.
 *
 * Bounded by `maxAllocations` (the Allocate handler refuses 508 beyond it), per user and per
 * client IPv4 / IPv6 /64 (486).
 */
import type { Endpoint, UdpSocket } from '../../net/index.js';
import { KeyedCounter } from '../../stun/rate-limiter.js';
import type { RelayCounters } from '../counters.js';
import type { PeerAddressCache } from '../data-indication.js';
import { EndpointMap } from '../five-tuple.js';
import type { Allocation } from './allocation.js';
import type { ClientLink, TcpClientLink } from './client-link.js';
import type { AllocationLedgerClient } from './options.js';
import { UserQuotas, type UserUsage } from './quota.js';
import type { SiblingTable } from './siblings.js';

/** An allocation with its sockets attached. */
export interface LiveAllocation {
  readonly state: Allocation;
  readonly link: ClientLink;
  readonly relay: UdpSocket;
  /** XOR-RELAYED-ADDRESS as advertised (externalAddress : relayed port). */
  readonly relayed: Endpoint;
  readonly usage: UserUsage;
  /** The client's source as the per-IP cap counts it (sourceKey). */
  readonly sourceKey: string;
  /** The last peer a Data indication came from, encoded (data-indication.ts); made at the
   *  first one, as most allocations only ever relay over channels. */
  peerAddress?: PeerAddressCache;
  /** The last IPv4 XOR-PEER-ADDRESS value of a Send indication and its peer (send-indication.ts). */
  sendPeer?: { value: Uint8Array; peer: Endpoint };
}

export interface RegistryOptions {
  relayAddress: string;
  externalAddress: string;
  maxAllocationsPerUser: number;
  maxAllocationsPerIp: number;
  userBytesPerSecond: number;
  allocationLedger?: AllocationLedgerClient | undefined;
}

export class AllocationRegistry {
  /** UDP allocations by client address → port (the other 5-tuple parts are the listener's). */
  readonly #udp = new EndpointMap<LiveAllocation>();
  readonly #tcp = new Set<LiveAllocation>();
  /** Our relayed transport addresses (as relayAddress and as externalAddress) → their allocation:
   *  the one exception to "own addresses are refused", so two clients of the same relay reach
   *  each other (the usual WebRTC case, and symmetric × symmetric), and the data path hands such
   *  packets over in-process. */
  readonly #relayedTransports = new EndpointMap<LiveAllocation>();
  /** 5-tuples with an Allocate in progress (binding a socket), to absorb retransmissions; counted
   *  against maxAllocations. */
  readonly pending = new Set<string>();
  readonly quotas: UserQuotas;
  /** Allocations per client IPv4 / IPv6 /64 (486 beyond maxAllocationsPerIp). */
  readonly ipQuotas: KeyedCounter;
  readonly #o: RegistryOptions;
  readonly #counters: RelayCounters;
  /** Told of every allocation that ends (the sibling workers' mirrors, siblings.ts). */
  onDeleted: ((a: LiveAllocation) => void) | undefined;
  /** The sibling workers' allocations on our shared port (siblings.ts), when there are any. */
  siblings: SiblingTable | undefined;

  constructor(o: RegistryOptions, counters: RelayCounters) {
    this.#o = o;
    this.#counters = counters;
    this.quotas = new UserQuotas(o.maxAllocationsPerUser, o.userBytesPerSecond);
    this.ipQuotas = new KeyedCounter(o.maxAllocationsPerIp);
  }

  get size(): number {
    return this.#udp.size + this.#tcp.size;
  }

  /** The live allocation of this 5-tuple; one past its lifetime but not yet swept is deleted
   *  here, so a late Refresh cannot revive it (RFC 8656 §7: it is gone when it expires). */
  of(link: ClientLink, now: number): LiveAllocation | undefined {
    const a =
      link.transport === 'udp'
        ? this.#udp.get(link.client.address, link.client.port)
        : ((link as TcpClientLink).allocation as LiveAllocation | undefined);
    if (a !== undefined && a.state.isExpired(now)) {
      this.#counters.allocationsExpired++;
      this.delete(a);
      return undefined;
    }
    return a;
  }

  /** The UDP allocation of a client transport address, expired or not (the data path checks). */
  udp(address: string, port: number): LiveAllocation | undefined {
    return this.#udp.get(address, port);
  }

  add(a: LiveAllocation): void {
    const port = a.relayed.port;
    this.#relayedTransports.set(this.#o.externalAddress, port, a);
    this.#relayedTransports.set(this.#o.relayAddress, port, a);
    const link = a.link;
    if (link.transport === 'udp') this.#udp.set(link.client.address, link.client.port, a);
    else {
      (link as TcpClientLink).allocation = a;
      this.#tcp.add(a);
    }
  }

  /** Whether address:port is one of our relayed transport addresses, or a sibling worker's on
   *  the same port (siblings.ts): a client of one worker may reach a client of another. */
  isRelayedTransport(address: string, port: number): boolean {
    return (
      this.#relayedTransports.get(address, port) !== undefined ||
      this.siblings?.at(address, port) !== undefined
    );
  }

  /** The allocation whose relayed transport address is address:port, if it is one of ours. */
  relayedAt(address: string, port: number): LiveAllocation | undefined {
    return this.#relayedTransports.get(address, port);
  }

  /** Remove `a`, give back its quotas and close its relayed socket. Idempotent. */
  delete(a: LiveAllocation): void {
    const c = a.link.client;
    if (a.link.transport === 'udp') {
      if (this.#udp.get(c.address, c.port) !== a) return;
      this.#udp.delete(c.address, c.port);
    } else {
      if (!this.#tcp.delete(a)) return;
      (a.link as TcpClientLink).allocation = undefined;
    }
    const port = a.relayed.port;
    this.#relayedTransports.delete(this.#o.externalAddress, port);
    this.#relayedTransports.delete(this.#o.relayAddress, port);
    this.quotas.release(a.state.user);
    this.ipQuotas.release(a.sourceKey);
    this.#o.allocationLedger?.release(a.state.user, a.sourceKey);
    a.relay.close().catch(() => {});
    this.onDeleted?.(a);
  }

  all(): LiveAllocation[] {
    return [...this.#udp.values(), ...this.#tcp];
  }

  /** Expire allocations (§7), permissions (§9) and channel bindings past their guard (§12). */
  sweep(now: number): void {
    for (const a of this.all()) {
      if (a.state.isExpired(now)) {
        this.#counters.allocationsExpired++;
        this.delete(a);
      } else {
        a.state.sweep(now);
      }
    }
  }
}
