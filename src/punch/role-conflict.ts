/**
 * ICE role conflicts (RFC 8445 §7.3.1.1, §7.2.5.1): both sides think they are controlling (or
 * both controlled), e.g. after a glare in signaling. Pure decisions; the agent sends the 487 and
 * switches its role.
 */
import type { Role } from './check-message.js';

export function otherRole(role: Role): Role {
  return role === 'controlling' ? 'controlled' : 'controlling';
}

/**
 * A check arrived claiming `theirRole` with tie-breaker `theirs`. 'none': no conflict; 'keep': we
 * keep our role and answer 487 (Role Conflict); 'switch': we take the other role and answer the
 * check. RFC 8445 §7.3.1.1: the larger tie-breaker keeps (or takes) the controlling role.
 */
export function resolveRoleConflict(
  role: Role,
  mine: bigint,
  theirRole: Role,
  theirs: bigint,
): 'none' | 'keep' | 'switch' {
  if (theirRole !== role) return 'none';
  const keepMine = role === 'controlling' ? mine >= theirs : mine < theirs;
  return keepMine ? 'keep' : 'switch';
}
