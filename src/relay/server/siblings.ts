/**
 * Allocations of the other workers on the same SO_REUSEPORT port (`relay --workers`, reuseport
 * mode), mirrored so that a packet between two clients whose allocations the kernel hashed to
 * different workers is handed over without crossing the kernel twice.
 *
 * Why: a client-to-client session (the WebRTC case, and coturn's `turnutils_uclient -y`) has two
 * allocations from two 5-tuples; SO_REUSEPORT hashes each on its own, so with 2 workers half of
 * the sessions span both. Without a mirror, worker A sends from its relayed socket to B's relayed
 * socket (a kernel send and receive, a Node receive callback, a fresh ChannelData buffer and a
 * second send in B) — measured 27.4 µs CPU per message against 16.5 µs in one process, where the
 * same packet is handed over in-process (data-path.ts). With the mirror, A checks what B would
 * check — B's allocation alive, its permission for A's relayed address (RFC 8656 §9), its
 * channel bound to A's relayed address (§12) — and sends the ChannelData (or Data indication) to
 * B's client itself, from its own socket on the shared port: the same source address B's socket
 * has, so the client cannot tell.
 *
 * Only UDP clients are mirrored (a TCP client is reachable only on its own connection, §3.1).
 * The state travels at control-plane events only — an Allocate, Refresh, CreatePermission or
 * ChannelBind answered with success, and an allocation's end — never per packet; expiry is
 * carried as absolute times, so a mirror expires on time without a message. Between a change in
 * B and its mirror in A lies one IPC hop (~ms): a mirror that does not show a live permission and
 * channel yet (a ChannelBind just answered) leaves the packet to the kernel path, where B judges
 * it by its own state; one that still shows a just-deleted allocation delivers the packet as if
 * it had been in flight. A worker that starts (a replacement for one that died) gets the others'
 * existing allocations from the primary's copy before it binds the port (server/workers/
 * mirror-cache.ts).
 *
 * The same copies let a worker hand a datagram to its owner: when a worker is replaced the
 * SO_REUSEPORT group's order changes and the kernel may deliver another worker's client to us
 * (SiblingTable.ownerOfClient); the datagram goes over IPC to the worker holding that client's
 * allocation, which handles it as its own (SiblingExchange.forward). And a CreatePermission or
 * ChannelBind toward a relayed port of ours that no copy shows yet asks the other workers'
 * registries before it is refused (SiblingExchange.lookup; dispatch.ts).
 *
 * Bounded: an entry per allocation of the other workers, at most the whole server's
 * --max-allocations (the primary's ledger, workers/ledger.ts, refuses allocations beyond it);
 * each with at most maxPermissionsPerAllocation + maxChannelsPerAllocation entries.
 */
import type { Endpoint } from '../../net/index.js';
import { EndpointMap } from '../five-tuple.js';
import type { Allocation } from './allocation.js';

/** One allocation's state, as the other workers need it (plain data: it crosses IPC). */
export interface SiblingState {
  /** The client's transport address (UDP), where its ChannelData goes. */
  client: Endpoint;
  expiresAt: number;
  /** Peer IP → permission expiry. */
  permissions: [string, number][];
  /** [channel number, peer address, peer port, expiry]. */
  channels: [number, string, number, number][];
}

/**
 * How mirror updates travel between the workers (IPC through the primary in `relay --workers`;
 * src/server/workers/sibling-client.ts). TurnServerOptions.siblingExchange.
 */
export interface SiblingExchange {
  /** Our allocation on relayed port `port` is now `state`; undefined: it ended. */
  publish(port: number, state: SiblingState | undefined): void;
  /** Called once by the server: how it applies the other workers' updates, forgets a worker
   *  that died (its allocations died with it), and what it does for the others (below). */
  serve(
    apply: (from: number, port: number, state: SiblingState | undefined) => void,
    forget: (from: number) => void,
    services?: SiblingServices,
  ): void;
  /**
   * Hand a UDP datagram from client `from` to worker `owner`, which holds that client's
   * allocation (SiblingTable.ownerOfClient): the kernel delivered it to us because the
   * SO_REUSEPORT group changed under the client (a worker replaced; see the file comment).
   */
  forward?(owner: number, from: Endpoint, data: Uint8Array): void;
  /**
   * Ask the other workers whose allocation relayed port `port` is, from their own registries —
   * not the mirror, which lags an Allocate by one IPC hop. Resolves [owner, state], or undefined
   * when none holds it or no answer came in time.
   */
  lookup?(port: number): Promise<[number, SiblingState] | undefined>;
}

/** What a worker's server does for the other workers (SiblingExchange.serve). */
export interface SiblingServices {
  /** A datagram another worker received from one of our clients (SiblingExchange.forward):
   *  handled as if it had arrived on our listener. */
  received(from: Endpoint, data: Uint8Array): void;
  /** The state of our UDP allocation on relayed port `port` (SiblingExchange.lookup), if any. */
  stateOf(port: number): SiblingState | undefined;
}

export interface SiblingAllocation {
  readonly owner: number;
  readonly client: Endpoint;
  readonly expiresAt: number;
  readonly permissions: Map<string, number>;
  /** Peer address:port → its channel. */
  readonly channels: EndpointMap<{ number: number; expiresAt: number }>;
}

/** The state of `a` to publish. */
export function siblingState(client: Endpoint, a: Allocation): SiblingState {
  return {
    client: { address: client.address, port: client.port },
    expiresAt: a.expiresAt,
    permissions: [...a.permissions],
    channels: [...a.channels()].map((c) => [c.number, c.peer.address, c.peer.port, c.expiresAt]),
  };
}

export class SiblingTable {
  /** Relayed port → the other worker's allocation (one relay address for all workers). */
  readonly #byPort = new Map<number, SiblingAllocation>();
  /** The same allocations by their client's transport address (the hand-off to the owner). */
  readonly #byClient = new EndpointMap<SiblingAllocation>();
  /** The relay's own addresses (relayAddress and externalAddress): a peer address is a sibling's
   *  relayed transport address only on one of these. */
  readonly #addresses: ReadonlySet<string>;

  constructor(relayAddresses: readonly string[]) {
    this.#addresses = new Set(relayAddresses);
  }

  get size(): number {
    return this.#byPort.size;
  }

  /** The other worker's allocation whose relayed transport address is address:port. */
  at(address: string, port: number): SiblingAllocation | undefined {
    return this.#addresses.has(address) ? this.#byPort.get(port) : undefined;
  }

  /** Whether `address` is one of the relay's own addresses (where siblings' relayed ports are). */
  covers(address: string): boolean {
    return this.#addresses.has(address);
  }

  /**
   * The worker holding the live allocation of client address:port, if another worker does.
   * After a worker is replaced the kernel may deliver that client's datagrams to us (the
   * SO_REUSEPORT group's order changed): they are handed to the owner (turn-server.ts).
   */
  ownerOfClient(address: string, port: number, now: number): number | undefined {
    const s = this.#byClient.get(address, port);
    return s !== undefined && now < s.expiresAt ? s.owner : undefined;
  }

  apply(from: number, port: number, state: SiblingState | undefined): void {
    const held = this.#byPort.get(port);
    if (state === undefined) {
      if (held?.owner === from) this.#drop(port, held);
      return;
    }
    if (held !== undefined) this.#drop(port, held);
    const channels = new EndpointMap<{ number: number; expiresAt: number }>();
    for (const [number, address, p, expiresAt] of state.channels) {
      channels.set(address, p, { number, expiresAt });
    }
    const entry: SiblingAllocation = {
      owner: from,
      client: state.client,
      expiresAt: state.expiresAt,
      permissions: new Map(state.permissions),
      channels,
    };
    this.#byPort.set(port, entry);
    this.#byClient.set(state.client.address, state.client.port, entry);
  }

  forget(from: number): void {
    for (const [port, s] of this.#byPort) if (s.owner === from) this.#drop(port, s);
  }

  #drop(port: number, s: SiblingAllocation): void {
    this.#byPort.delete(port);
    if (this.#byClient.get(s.client.address, s.client.port) === s) {
      this.#byClient.delete(s.client.address, s.client.port);
    }
  }
}
