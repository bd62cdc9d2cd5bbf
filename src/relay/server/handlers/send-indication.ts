/**
 * Send indication (RFC 8656 §11.2): the DATA to XOR-PEER-ADDRESS if the allocation has a
 * permission for the peer. An indication is never answered, so the outcome is either relayed or
 * a drop with its reason (counted by the caller).
 */
import type { Endpoint } from '../../../net/index.js';
import type { StunMessage } from '../../../stun/index.js';
import { Attr } from '../../../stun/index.js';
import { decodeAddress } from '../../../stun/attributes.js';
import type { ClientLink } from '../client-link.js';
import { drop, type DropReply } from '../reply.js';
import type { RelayCore } from '../request-context.js';
import type { LiveAllocation } from '../registry.js';

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
    peer = xorPeer(msg, a);
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

/**
 * XOR-PEER-ADDRESS, decoded once per peer: a client sends its Send indications to the same few
 * peers, and an IPv4 X-Address depends on the magic cookie only (RFC 8489 §14.2), so the same
 * 8 value bytes are the same peer and the endpoint decoded last time is used again (no address
 * string built per indication). An IPv6 one is XORed with each message's transaction id: decoded
 * every time.
 */
function xorPeer(msg: StunMessage, a: LiveAllocation): Endpoint | undefined {
  const v = msg.get(Attr.XorPeerAddress);
  if (v === undefined) return undefined;
  const last = a.sendPeer;
  if (v.length === 8 && v[1] === 1) {
    if (last !== undefined && sameIPv4Value(v, last.value)) return last.peer;
    const peer = decodeAddress(v, msg.raw, Attr.XorPeerAddress);
    a.sendPeer = { value: Uint8Array.from(v), peer };
    return peer;
  }
  return decodeAddress(v, msg.raw, Attr.XorPeerAddress);
}

function sameIPv4Value(x: Uint8Array, y: Uint8Array): boolean {
  for (let i = 0; i < 8; i++) if (x[i] !== y[i]) return false;
  return true;
}
