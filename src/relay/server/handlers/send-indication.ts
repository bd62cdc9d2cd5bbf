/**
 * Send indication (RFC 8656 §11.2): the DATA to XOR-PEER-ADDRESS if the allocation has a
 * permission for the peer. An indication is never answered, so the outcome is either relayed or
 * a drop with its reason (counted by the caller).
 */
import type { Endpoint } from '../../../net/index.js';
import type { StunMessage } from '../../../stun/index.js';
import { Attr, readXorAddress } from '../../../stun/index.js';
import type { ClientLink } from '../client-link.js';
import { drop, type DropReply } from '../reply.js';
import type { RelayCore } from '../request-context.js';

export function handleSendIndication(
  msg: StunMessage,
  link: ClientLink,
  core: RelayCore,
  now: number,
): DropReply | undefined {
  const a = core.registry.of(link, now);
  if (a === undefined) return drop('no-allocation');
  let peer: Endpoint | undefined;
  try {
    peer = readXorAddress(msg, Attr.XorPeerAddress);
  } catch {
    return drop('malformed');
  }
  const data = msg.get(Attr.Data);
  if (peer === undefined || data === undefined) return drop('unexpected');
  if (!a.state.hasPermission(peer.address, now) || core.peers.ownPortRefused(peer)) {
    return drop('no-permission');
  }
  core.data.toPeer(a, data, peer, now);
  return undefined;
}
