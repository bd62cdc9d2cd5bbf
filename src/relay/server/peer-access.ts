/**
 * Which peers an allocation may reach (RFC 8656 §9.1, §21.1.5): the address policy's ranges, our
 * own addresses except our (and our sibling workers') relayed transport addresses, our listening
 * ports never, and the peer
 * gate (rendezvous) when one is set.
 */
import net from 'node:net';
import type { Endpoint } from '../../net/index.js';
import type { RelayCounters } from '../counters.js';
import { TurnErrorCode } from '../errors.js';
import { EndpointMap } from '../five-tuple.js';
import type { RelayPeerGate } from '../peer-gate.js';
import type { PeerPolicy } from '../peer-policy.js';
import type { AllocationRegistry, LiveAllocation } from './registry.js';
import { error, type ErrorReply } from './reply.js';

export class PeerAccess {
  /** Our listening transport addresses: never a peer (a client must not talk TURN to us
   *  through us). Filled when the listener is bound. */
  readonly listeners = new EndpointMap<true>();
  /** Every address of ours (listen, relay, external), for the Send-indication check. */
  readonly ownAddresses: ReadonlySet<string>;
  readonly #policy: PeerPolicy;
  readonly #registry: AllocationRegistry;
  readonly #gate: RelayPeerGate | undefined;
  readonly #counters: RelayCounters;

  constructor(o: {
    policy: PeerPolicy;
    ownAddresses: ReadonlySet<string>;
    registry: AllocationRegistry;
    gate: RelayPeerGate | undefined;
    counters: RelayCounters;
  }) {
    this.#policy = o.policy;
    this.ownAddresses = o.ownAddresses;
    this.#registry = o.registry;
    this.#gate = o.gate;
    this.#counters = o.counters;
  }

  /**
   * For CreatePermission and ChannelBind: 443 for a family other than the relayed one; 403 for
   * refused addresses and for peers outside the user's rendezvous.
   */
  check(peer: Endpoint, a: LiveAllocation): ErrorReply | undefined {
    if (net.isIPv6(peer.address) !== net.isIPv6(a.relayed.address)) {
      return error(TurnErrorCode.PeerAddressFamilyMismatch);
    }
    const verdict = this.#policy.check(peer.address);
    const relayedHere = this.#registry.isRelayedTransport(peer.address, peer.port);
    const ok = verdict === 'allowed' || (verdict === 'own-address' && relayedHere);
    if (!ok || this.listeners.get(peer.address, peer.port)) {
      return error(TurnErrorCode.Forbidden, `peer address refused (${verdict})`);
    }
    const gate = this.#gate;
    if (gate !== undefined && !gate.allows(a.state.user, peer.address)) {
      this.#counters.peerGateRefused++;
      return error(TurnErrorCode.Forbidden, 'peer not in rendezvous');
    }
    return undefined;
  }

  /**
   * Whether `peer` may be a sibling worker's relayed transport address that no copy shows yet: a
   * relayed port on one of our relay addresses, refused as our own address unless relayed, and
   * neither ours nor mirrored. Its owner's copy comes one IPC hop after the Allocate was answered
   * (siblings.ts), so the request asks the other workers before check() refuses it (dispatch.ts).
   */
  unknownSiblingPeer(peer: Endpoint): boolean {
    const siblings = this.#registry.siblings;
    return (
      siblings !== undefined &&
      siblings.covers(peer.address) &&
      !this.#registry.isRelayedTransport(peer.address, peer.port) &&
      this.listeners.get(peer.address, peer.port) === undefined &&
      this.#policy.check(peer.address) === 'own-address'
    );
  }

  /** A permission is per IP (§9), so Send to one of our own addresses re-checks the port. */
  ownPortRefused(peer: Endpoint): boolean {
    if (!this.ownAddresses.has(peer.address)) return false;
    if (this.listeners.get(peer.address, peer.port)) return true;
    const relayedHere = this.#registry.isRelayedTransport(peer.address, peer.port);
    return !relayedHere && this.#policy.check(peer.address) !== 'allowed';
  }
}
