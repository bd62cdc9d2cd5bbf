/**
 * Two peers for the peer-link tests, `a` always the one with the lower peer id: the lower id
 * initiates punches (punch/session-table.ts), so a test that reads "a connects" reads in order.
 */
import { generateIdentity, type Identity } from '../../../src/signaling/identity.js';
import type { NatKind, PeerSide, PunchWorld } from '../punch/world.js';

/** Two fresh identities, the lower peer id first. */
export function orderedIdentities(): [Identity, Identity] {
  const [ia, ib] = [generateIdentity(), generateIdentity()];
  return ia.peerId < ib.peerId ? [ia, ib] : [ib, ia];
}

/** Peers with those identities on `w`, each behind a NAT of its own (`ka`, `kb`). */
export async function orderedPeers(
  w: PunchWorld,
  ka: NatKind = 'full-cone',
  kb: NatKind = ka,
): Promise<{ ia: Identity; ib: Identity; sa: PeerSide; sb: PeerSide }> {
  const [ia, ib] = orderedIdentities();
  const sa = await w.peer(ia.peerId, w.nat(ka));
  const sb = await w.peer(ib.peerId, w.nat(kb));
  return { ia, ib, sa, sb };
}
