/**
 * ChannelBind (RFC 8656 §11.2): CHANNEL-NUMBER and XOR-PEER-ADDRESS are required (400), the peer
 * must be allowed (403 / 443), the number in 0x4000–0x4FFF and neither side bound to another
 * (400), the tables not full (508). Binding also installs the peer's permission.
 */
import { Attr, readChannelNumber, readXorAddress } from '../../../stun/index.js';
import { TurnErrorCode } from '../../errors.js';
import { error, isError, ok, type Reply } from '../reply.js';
import type { AllocationRequest } from '../request-context.js';

export function handleChannelBind(ctx: AllocationRequest): Reply {
  const { msg, allocation: a, core } = ctx;
  const number = readChannelNumber(msg);
  const peer = readXorAddress(msg, Attr.XorPeerAddress);
  if (number === undefined || peer === undefined) {
    return error(TurnErrorCode.BadRequest, 'CHANNEL-NUMBER and XOR-PEER-ADDRESS required');
  }
  const refused = core.peers.check(peer, a);
  if (refused !== undefined) return refused;
  const bound = a.state.bindChannel(number, peer, ctx.now);
  if (isError(bound)) return bound;
  core.counters.channelsBound++;
  return ok();
}
