/**
 * A router port mapping as an ICE candidate of the peer's socket (the connector's
 * `extraCandidates` hook). Its base is the socket, like srflx; its priority sits above every
 * server-reflexive and relayed candidate and below the host candidates (type preference of
 * host, local preference 0): a peer on the same LAN still pairs host with host first, and every
 * peer elsewhere tries the mapping before anything the NAT's own behaviour decides.
 */
import { candidatePriority, type Candidate } from '../candidates.js';
import type { PortMapper } from './port-mapper.js';

export const MAPPED_CANDIDATE_PRIORITY = candidatePriority('host', 0);

/** The live mapping of `mapper` as a candidate, or none (no mapping, or lost on renewal). */
export function mappedCandidates(mapper: Pick<PortMapper, 'mapping'>): Candidate[] {
  const m = mapper.mapping;
  if (!m) return [];
  return [
    {
      type: 'srflx',
      address: m.external.address,
      port: m.external.port,
      priority: MAPPED_CANDIDATE_PRIORITY,
    },
  ];
}
