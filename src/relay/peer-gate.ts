/**
 * The peer gate: an optional check, beside the address policy (peer-policy.ts), of WHO a user may
 * relay to. `natpush serve` hands TURN credentials to any registered key pair, so without it its
 * relay would carry traffic from any new key pair to any host on the internet (issue 8, finding
 * 3). With the gate, serve's relay only relays between natpush peers: CreatePermission and
 * ChannelBind (and through them Send and ChannelData, which need a permission, RFC 8656 §9) are
 * granted only toward an IP address the server itself has seen for a peer the requester is in
 * rendezvous with (src/signaling/rendezvous.ts implements it); everything else gets 403.
 *
 * A standalone `natpush relay` has no gate: it is a plain TURN server for whoever holds its
 * static or REST credentials, as RFC 8656 describes. A fleet relay (`natpush relay --redis`) has
 * one backed by the cluster's Redis (src/cluster/relay-peer-gate.ts), which needs `prepare`.
 */
import type { Endpoint } from '../net/index.js';

export interface RelayPeerGate {
  /**
   * An allocation of `user` (for REST credentials the peer id after the expiry) now exists: its
   * client's source and its relayed transport address are addresses seen for that user.
   */
  noteAllocation(user: string, client: Endpoint, relayed: Endpoint): void | Promise<void>;
  /** May `user` install a permission toward `peerAddress` (an IP, RFC 8656 §9)? */
  allows(user: string, peerAddress: string): boolean;
  /**
   * Awaited before a CreatePermission or ChannelBind of `user` toward `peerAddresses` is handled,
   * for a gate whose knowledge is elsewhere (Redis): after it, `allows` answers from memory.
   * Never rejects. A promise from `noteAllocation` is awaited before the Allocate is answered.
   */
  prepare?(user: string, peerAddresses: readonly string[]): Promise<void>;
}
