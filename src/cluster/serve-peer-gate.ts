/**
 * The peer gate of serve's own relay when serve is one node of a cluster (`serve --redis` with
 * its relay; issue 12). Its rendezvous table in memory (../signaling/rendezvous.ts) knows only
 * what this node saw; a peer on another node is known here by its signaling address (bus
 * messages `f`, `p`, `g`), but not by the addresses of its allocations on another node's relay or
 * on a fleet relay. Two peers on two nodes whose only UDP is their relays (a UDP-blocking firewall
 * on both sides: TURN over TCP) then could not reach each other's relayed addresses, while the
 * same two peers on one node could. So this node's memory answers first and the cluster's Redis
 * (the fleet relays' gate, relay-peer-gate.ts, which every node's Rendezvous feeds through
 * create-serve's mirror) answers what it does not know:
 *
 *   A (node 1): CreatePermission 203.0.113.2 ──▶ node 1's relay
 *     node 1's Rendezvous: B is A's partner, 203.0.113.2 never seen for B here → ask Redis
 *     FleetPeerGate: relay-seen:203.0.113.2 has B (node 2 noted B's allocation there) → granted
 *
 * Both halves follow the same rule (a partner in rendezvous, seen at the address by a server),
 * so the union admits nothing that one serve holding both peers would refuse. A Redis outage
 * leaves what this node knows (the local half needs no Redis).
 */
import type { Endpoint } from '../net/index.js';
import type { RelayPeerGate } from '../relay/peer-gate.js';
import type { Rendezvous } from '../signaling/rendezvous.js';
import type { FleetPeerGate } from './relay-peer-gate.js';

export class ServePeerGate implements RelayPeerGate {
  constructor(
    readonly local: Rendezvous,
    readonly fleet: FleetPeerGate,
  ) {}

  /**
   * Noted here (and copied to Redis by the Rendezvous' mirror), and written to Redis before the
   * Allocate is answered, so that a peer on another node never asks before the write.
   */
  async noteAllocation(user: string, client: Endpoint, relayed: Endpoint): Promise<void> {
    this.local.noteAllocation(user, client, relayed);
    await this.fleet.noteAllocation(user, client, relayed);
  }

  allows(user: string, peerAddress: string): boolean {
    return this.local.allows(user, peerAddress) || this.fleet.allows(user, peerAddress);
  }

  /** Redis is asked only about the addresses this node's memory does not admit. */
  async prepare(user: string, peerAddresses: readonly string[]): Promise<void> {
    const unknown = peerAddresses.filter((ip) => !this.local.allows(user, ip));
    if (unknown.length > 0) await this.fleet.prepare(user, unknown);
  }
}
