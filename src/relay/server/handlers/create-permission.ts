/**
 * CreatePermission (RFC 8656 §9.2): every XOR-PEER-ADDRESS is checked (403 refused, 443 other
 * family) before any permission is installed; 400 without one; 508 when the allocation's
 * permission table is full.
 */
import { Attr, readXorAddresses } from '../../../stun/index.js';
import { TurnErrorCode } from '../../errors.js';
import { error, ok, type Reply } from '../reply.js';
import type { AllocationRequest } from '../request-context.js';

export function handleCreatePermission(ctx: AllocationRequest): Reply {
  const { msg, allocation: a, core } = ctx;
  const peers = readXorAddresses(msg, Attr.XorPeerAddress);
  if (peers.length === 0) return error(TurnErrorCode.BadRequest, 'XOR-PEER-ADDRESS missing');
  for (const p of peers) {
    const refused = core.peers.check(p, a);
    if (refused !== undefined) return refused;
  }
  for (const p of peers) {
    const refused = a.state.installPermission(p.address, ctx.now);
    if (refused !== undefined) return refused;
  }
  core.counters.permissionsCreated++;
  return ok();
}
