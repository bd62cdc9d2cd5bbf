/**
 * Refresh (RFC 8656 §7.3): LIFETIME 0 deletes the allocation; otherwise min(requested, max), the
 * default when absent. A REQUESTED-ADDRESS-FAMILY other than the allocation's → 443.
 */
import { Attr, readAddressFamily, readLifetime } from '../../../stun/index.js';
import { TurnErrorCode } from '../../errors.js';
import { error, ok, type Reply } from '../reply.js';
import type { AllocationRequest } from '../request-context.js';

export function handleRefresh(ctx: AllocationRequest): Reply {
  const { msg, allocation: a, core } = ctx;
  const family = readAddressFamily(msg, Attr.RequestedAddressFamily);
  if (family !== undefined && family !== core.relayFamily) {
    return error(TurnErrorCode.PeerAddressFamilyMismatch);
  }
  const requested = readLifetime(msg);
  if (requested === 0) {
    core.registry.delete(a);
    return ok((b) => b.addUint32(Attr.Lifetime, 0));
  }
  const o = core.options;
  const lifetime =
    requested === undefined ? o.defaultLifetimeSeconds : Math.min(requested, o.maxLifetimeSeconds);
  a.state.refresh(lifetime, ctx.now);
  return ok((b) => b.addUint32(Attr.Lifetime, lifetime));
}
