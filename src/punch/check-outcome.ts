/**
 * What an answer to one of our checks means (RFC 8445 §7.2.5), as a pure step: the pair's new
 * state, what the answer tells us of it (round trip, our address as the remote saw it), and what
 * the agent does next. The agent (checks.ts) acts on the step; the answer it passes here was
 * verified with the remote pwd first (check-transactions.ts `screen`), and one that came after
 * the selection has been dropped unless it may move it (pair-upgrade.ts). The other side of a
 * check — answering the remote's — is check-responder.ts (§7.3).
 */
import { Attr } from '../stun/attribute-type.js';
import { readErrorCode, readXorAddress } from '../stun/attributes.js';
import { StunClass } from '../stun/message-type.js';
import type { StunMessage } from '../stun/message.js';
import type { Role } from './check-message.js';
import type { CandidatePair } from './check-types.js';

/**
 * - `switch-role`: 487 (§7.2.5.1) before a selection: take the other role, check the pair again;
 * - `failed`: another error (§7.2.5.2.4), the pair failed;
 * - `nominated`: our nominating check succeeded (controlling): select the pair, or move to it
 *   from a relayed one (pair-upgrade.ts);
 * - `select`: the controlled side's check on a pair the remote nominated succeeded (§7.3.1.5);
 * - `succeeded`: the pair is valid, nothing selected by it: see whether one can be nominated.
 */
export type CheckOutcome = 'switch-role' | 'failed' | 'nominated' | 'select' | 'succeeded';

/**
 * Reads `msg`, the answer to our check on `pair` (`nominate`: it carried USE-CANDIDATE), and
 * marks the pair. `selected`: the agent has selected a pair already.
 */
export function checkOutcome(
  pair: CandidatePair,
  msg: StunMessage,
  rttMs: number,
  o: { nominate: boolean; role: Role; selected: boolean },
): CheckOutcome {
  if (msg.cls === StunClass.Error) {
    if (readErrorCode(msg)?.code === 487 && !o.selected) return 'switch-role';
    pair.state = 'failed';
    return 'failed';
  }
  checkSucceeded(pair, msg, rttMs);
  if (o.nominate && o.role === 'controlling') {
    pair.nominated = true;
    return 'nominated';
  }
  if (pair.nominated && o.role === 'controlled') return 'select';
  return 'succeeded';
}

/** A success response to our check on `pair` (§7.2.5.3): the pair is valid. */
export function checkSucceeded(pair: CandidatePair, msg: StunMessage, rttMs: number): void {
  pair.state = 'succeeded';
  pair.rttMs = rttMs;
  try {
    pair.mapped = readXorAddress(msg, Attr.XorMappedAddress);
  } catch {
    /* a prflx of ours is informative only */
  }
}
