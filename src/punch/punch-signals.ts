/**
 * The rendezvous frames of a punch as the connector sends and receives them (the signaling
 * schema's `candidates`, `offer`, `punch`, `punch-start` and `punch-end`: signaling/protocol.ts), what `Peer`
 * offers the punch layer (CONTRACTS §4), and the conversions between wire and checklist
 * candidates. Pure.
 *
 * ```mermaid
 * sequenceDiagram
 *   participant A as A (initiator, controlling)
 *   participant S as natpush serve
 *   participant B as B (controlled)
 *   B->>S: offer {candidates, ufrag, pwd}  (registered while idle: registerOffers)
 *   A->>S: candidates {to:B, rid, host+srflx, fresh ufrag+pwd}
 *   S->>B: candidates {from:A, rid, …, answered: B's ufrag}
 *   S->>A: candidates {from:B, rid, B's offer, answered}
 *   S->>A: punch-start {from:B, rid, at, rtt}
 *   S->>B: punch-start {from:A, rid, at, rtt}
 *   Note over A,B: B starts at `at` − 10 ms, A at `at` (local = at − clockOffsetMs)
 *   A-->>S: candidates {to:B, rid, [relay]}  (trickled when the allocation is made)
 *   A-->>B: Binding checks on every pair, every Ta, USE-CANDIDATE on direct pairs
 *   B-->>A: responses + triggered checks (prflx from unknown sources)
 *   Note over A,B: A selects on the first answer; B when its own check on a nominated pair is
 *   Note over A,B: PunchedPath {kind direct|relay}, consent every ~5 s
 *   A-->>S: punch-end {to:B, rid, ufrag, reason}  (only if A's side ended without a path)
 *   S-->>B: punch-end {from:A, rid, ufrag, reason}  → B ends its side of rid now (punch-end.ts)
 * ```
 */
import type { TurnClient } from '../relay/index.js';
import type { Candidate, RelayCredentials } from './candidates.js';
import { candidatePriority } from './candidates.js';
import type { IceCredentials } from './check-message.js';
import { PUNCH_LIMITS } from './constants.js';
import type { WireNatFacts } from './nat-facts.js';
import type { PunchEndReason } from './punch-end.js';

/** Rendezvous frames the connector sends (the signaling schema's `candidates` and `punch`). */
export type PunchSignalOut =
  | {
      type: 'candidates';
      to: string;
      rid: string;
      candidates: WireCandidate[];
      ufrag?: string;
      pwd?: string;
      nat?: WireNatFacts;
    }
  | { type: 'punch'; to: string; rid: string }
  /** Our side of punch `rid` ended without a path (punch-end.ts). */
  | { type: 'punch-end'; to: string; rid: string; ufrag?: string; reason: PunchEndReason }
  | { type: 'offer'; candidates: WireCandidate[]; ufrag: string; pwd: string; nat?: WireNatFacts };

/** Rendezvous frames the server forwards (`candidates` from the other side, `punch-start`). */
export type PunchSignalIn =
  | {
      type: 'candidates';
      from: string;
      rid: string;
      candidates: WireCandidate[];
      ufrag?: string;
      pwd?: string;
      /** serve answered this punch at once with our registered offer of this ufrag. */
      answered?: string;
      /** The other side's NAT facts (nat-facts.ts). */
      nat?: WireNatFacts;
    }
  | { type: 'punch-start'; from: string; rid: string; at: number; rtt: number }
  /** The other side's punch `rid` ended without a path (`reason` may be `'unknown'`). */
  | { type: 'punch-end'; from: string; rid: string; ufrag?: string; reason: string };

export interface WireCandidate {
  type: 'host' | 'srflx' | 'prflx' | 'relay';
  protocol: 'udp' | 'tcp';
  address: string;
  port: number;
  priority?: number;
}

/**
 * The session layer's side of a handshake carried in the checks (checks.ts `CheckHandshake`),
 * per remote peer: `Peer` routes it to the peer's link (peer-link.ts).
 */
export interface PeerHandshakes {
  init(peer: string): Uint8Array | undefined;
  answer(peer: string, init: Uint8Array): Uint8Array | undefined;
  response(peer: string, resp: Uint8Array): void;
}

/** CONTRACTS §4: what `Peer` offers the punch layer. */
export interface PunchSignaling {
  sendSignal(frame: PunchSignalOut): boolean;
  onSignal(cb: (frame: PunchSignalIn) => void): () => void;
  /** Server clock minus ours (from `welcome.time`). */
  readonly clockOffsetMs: number;
  turnCredentials?(): Promise<RelayCredentials>;
}

/** The other side of a punch as its frame describes it. */
export interface RemoteDescription {
  creds: IceCredentials;
  candidates: Candidate[];
  nat?: WireNatFacts;
}

export function relayWire(r: TurnClient): WireCandidate {
  return {
    type: 'relay',
    protocol: 'udp',
    address: r.relayedAddress.address,
    port: r.relayedAddress.port,
    priority: candidatePriority('relay'),
  };
}

export function sameHosts(cs: readonly WireCandidate[], hosts: readonly Candidate[]): boolean {
  const warm = cs.filter((c) => c.type === 'host');
  return (
    warm.length === hosts.length &&
    hosts.every((h) => warm.some((c) => c.address === h.address && c.port === h.port))
  );
}

export function creds(c: IceCredentials): { ufrag: string; pwd: string } {
  return { ufrag: c.ufrag, pwd: c.pwd };
}

export function parseRemote(
  f: Extract<PunchSignalIn, { type: 'candidates' }>,
): RemoteDescription | undefined {
  if (!f.ufrag || !f.pwd) return undefined;
  return {
    creds: { ufrag: f.ufrag, pwd: f.pwd },
    candidates: parseCandidates(f.candidates),
    ...(f.nat ? { nat: f.nat } : {}),
  };
}

export function parseCandidates(cs: readonly WireCandidate[]): Candidate[] {
  return cs
    .filter((c) => c.protocol === 'udp')
    .slice(0, PUNCH_LIMITS.maxRemoteCandidates)
    .map((c) => ({
      type: c.type,
      address: c.address,
      port: c.port,
      priority: c.priority ?? 0,
    }));
}
