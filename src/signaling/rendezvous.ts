/**
 * Who is in rendezvous with whom, and which addresses the server itself has seen for each peer:
 * the peer gate of `natpush serve`'s relay (src/relay/peer-gate.ts; issue 8, finding 3).
 *
 *   A ──candidates/punch/p2p──▶ server ──▶ B        noteForward(A, B): A and B are in rendezvous
 *   A's WebSocket from 198.51.100.7                  noteAddress(A, 198.51.100.7)
 *   B allocates on the relay from 203.0.113.9        noteAllocation(B, client, relayed)
 *   A: CreatePermission 203.0.113.9 ──▶ relay        allows(A, 203.0.113.9): B is A's partner and
 *                                                    203.0.113.9 was seen for B → granted
 *   A: CreatePermission 8.8.8.8 ──▶ relay            no partner of A was seen there → 403
 *
 * Only addresses the server observed count (a connection's remote address, an allocation's
 * authenticated client source — the 401 round trip proves it is not spoofed — and relayed
 * addresses), never what a peer claims in its candidates: a claim would let anyone aim the relay
 * at any host. Rendezvous is symmetric: B answers A's candidates through the relay too.
 *
 * Bounded and expiring (STYLE.md §8): at most RENDEZVOUS_MAX_PEERS peers, each with at most
 * RENDEZVOUS_MAX_PARTNERS_PER_PEER partners and RENDEZVOUS_MAX_ADDRESSES_PER_PEER addresses, each
 * entry forgotten RENDEZVOUS_TTL_MS after its last use; a permission granted re-arms both the
 * pair and the address, so a live relayed session keeps its gate open. Forgetting only revokes.
 *
 * In a cluster (`serve --redis`) every address noted here is also handed to `onSeen`, which
 * writes it to Redis for the fleet relays' gate (../cluster/rendezvous-pairs.ts `seen`), so
 * that both gates admit the same addresses; the pairs reach Redis from server.ts.
 */
import { isIP } from 'node:net';
import type { Endpoint } from '../net/index.js';
import {
  RENDEZVOUS_MAX_ADDRESSES_PER_PEER,
  RENDEZVOUS_MAX_PARTNERS_PER_PEER,
  RENDEZVOUS_MAX_PEERS,
  RENDEZVOUS_TTL_MS,
} from '../relay/constants.js';
import type { RelayPeerGate } from '../relay/peer-gate.js';
import type { Clock } from '../util/clock.js';

export interface RendezvousOptions {
  clock: Clock;
  ttlMs?: number;
  maxPeers?: number;
  maxPartnersPerPeer?: number;
  maxAddressesPerPeer?: number;
}

interface PeerEntry {
  /** partner peer id → expiry (ms) */
  readonly partners: Map<string, number>;
  /** canonical IP → expiry (ms) */
  readonly addresses: Map<string, number>;
}

/** IPv4-mapped IPv6 is the IPv4 address; anything that is not an IP is ignored. */
function canonicalIp(address: string | undefined): string | undefined {
  if (!address) return undefined;
  const lower = address.toLowerCase();
  if (lower.startsWith('::ffff:') && isIP(lower.slice(7)) === 4) return lower.slice(7);
  return isIP(lower) !== 0 ? lower : undefined;
}

/** Set `key` to `expiry` as the newest entry; past `max` the oldest goes (Map keeps order). */
function touch(map: Map<string, number>, key: string, expiry: number, max: number): void {
  map.delete(key);
  map.set(key, expiry);
  while (map.size > max) map.delete(map.keys().next().value!);
}

export class Rendezvous implements RelayPeerGate {
  readonly #clock: Clock;
  readonly #ttlMs: number;
  readonly #maxPeers: number;
  readonly #maxPartners: number;
  readonly #maxAddresses: number;
  readonly #peers = new Map<string, PeerEntry>();
  /** Where a connected peer's signaling connection comes from (set by the server). */
  addressOf: (peer: string) => string | undefined = () => undefined;
  /** Told of every address noted (a canonical IP), for the cluster's copy (set by serve). */
  onSeen: (peer: string, ip: string) => void = () => {};

  constructor(o: RendezvousOptions) {
    this.#clock = o.clock;
    this.#ttlMs = o.ttlMs ?? RENDEZVOUS_TTL_MS;
    this.#maxPeers = o.maxPeers ?? RENDEZVOUS_MAX_PEERS;
    this.#maxPartners = o.maxPartnersPerPeer ?? RENDEZVOUS_MAX_PARTNERS_PER_PEER;
    this.#maxAddresses = o.maxAddressesPerPeer ?? RENDEZVOUS_MAX_ADDRESSES_PER_PEER;
    for (const [k, v] of Object.entries({
      ttlMs: this.#ttlMs,
      maxPeers: this.#maxPeers,
      maxPartnersPerPeer: this.#maxPartners,
      maxAddressesPerPeer: this.#maxAddresses,
    })) {
      if (!(v >= 1)) throw new RangeError(`${k} must be >= 1`);
    }
  }

  /** Peers tracked (for tests and metrics). */
  get size(): number {
    return this.#peers.size;
  }

  /**
   * A rendezvous frame (`candidates`, `punch`, `p2p`) was forwarded from `from` to `to`: they are
   * in rendezvous, and where their signaling connections come from is seen for each.
   */
  noteForward(from: string, to: string): void {
    if (from === to) return;
    const expiry = this.#clock.now() + this.#ttlMs;
    touch(this.#entry(from).partners, to, expiry, this.#maxPartners);
    touch(this.#entry(to).partners, from, expiry, this.#maxPartners);
    this.noteAddress(from, this.addressOf(from));
    this.noteAddress(to, this.addressOf(to));
  }

  /** The server saw `peer` at `address` (its connection's remote address, say). */
  noteAddress(peer: string, address: string | undefined): void {
    const ip = canonicalIp(address);
    if (ip === undefined) return;
    touch(this.#entry(peer).addresses, ip, this.#clock.now() + this.#ttlMs, this.#maxAddresses);
    this.onSeen(peer, ip);
  }

  noteAllocation(user: string, client: Endpoint, relayed: Endpoint): void {
    this.noteAddress(user, client.address);
    this.noteAddress(user, relayed.address);
  }

  allows(user: string, peerAddress: string): boolean {
    const ip = canonicalIp(peerAddress);
    const mine = this.#peers.get(user);
    if (ip === undefined || mine === undefined) return false;
    const now = this.#clock.now();
    for (const [partner, pairExpiry] of mine.partners) {
      if (pairExpiry < now) continue;
      const theirs = this.#peers.get(partner);
      const seenExpiry = theirs?.addresses.get(ip);
      if (seenExpiry === undefined || seenExpiry < now) continue;
      // In use: re-arm the pair (both ways) and the address, so a refreshed session keeps it.
      const expiry = now + this.#ttlMs;
      touch(mine.partners, partner, expiry, this.#maxPartners);
      touch(theirs!.partners, user, expiry, this.#maxPartners);
      touch(theirs!.addresses, ip, expiry, this.#maxAddresses);
      return true;
    }
    return false;
  }

  #entry(peer: string): PeerEntry {
    let e = this.#peers.get(peer);
    if (e !== undefined) {
      // Most recently used last, so the eviction below forgets the least recently used peer.
      this.#peers.delete(peer);
      this.#peers.set(peer, e);
      return e;
    }
    e = { partners: new Map(), addresses: new Map() };
    this.#peers.set(peer, e);
    if (this.#peers.size > this.#maxPeers) this.#peers.delete(this.#peers.keys().next().value!);
    return e;
  }
}
