/**
 * The vocabulary of connectivity checks (RFC 8445 §6.1.2): candidate pairs and their states,
 * pair priority, what a check agent is given and what it counts.
 */
import type { Endpoint } from '../net/udp.js';
import { endpointKey } from '../net/udp.js';
import type { RetransmissionOptions, StunTransactions } from '../stun/transaction.js';
import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import type { Candidate, CandidateBase } from './candidates.js';
import type { IceCredentials, Role } from './check-message.js';
import type { Via } from './demux.js';

export type PathKind = 'direct' | 'relay';
export type PairState = 'waiting' | 'in-progress' | 'succeeded' | 'failed';

export interface CandidatePair {
  readonly id: string;
  readonly base: CandidateBase;
  readonly remote: Candidate;
  readonly kind: PathKind;
  readonly priority: bigint;
  state: PairState;
  /** The remote sent us an authenticated check on this pair. */
  heard: boolean;
  /** USE-CANDIDATE seen (controlled) or sent and answered (controlling). */
  nominated: boolean;
  /** Our address as the remote saw it, from the check response (a prflx of ours, §7.2.5.3.1). */
  mapped?: Endpoint;
  rttMs?: number;
}

/** The session's side of a handshake carried in checks (secure-session.ts). */
export interface CheckHandshake {
  /** The init to put in our checks now, if any (the same bytes until it is answered). */
  init(): Uint8Array | undefined;
  /** An init from an authenticated check: our answer for the success response, if any. */
  answer(init: Uint8Array): Uint8Array | undefined;
  /** An answer from an authenticated response to one of our checks. */
  response(resp: Uint8Array): void;
}

export interface CheckAgentOptions {
  role: Role;
  tieBreaker: bigint;
  local: IceCredentials;
  remote: IceCredentials;
  /** Priority of the best local candidate on each base (pair priority, §6.1.2.3). */
  localPriority: { socket: number; relay?: number };
  /** Engines whose `send` puts bytes on the socket / through the TURN allocation. */
  transactions: { socket: StunTransactions; relay?: StunTransactions };
  /** IPs of the TURN relay in use (its server address, our relayed address): a peer-reflexive
   *  remote at one of them is relayed, not direct (checklist.ts `#atRelay`). */
  relayAddresses?: () => readonly string[];
  /** Raw send for responses (not transactions). */
  send(bytes: Uint8Array, to: Endpoint, via: Via): void;
  clock: Clock;
  logger?: Logger;
  taMs?: number;
  checkRetransmission?: RetransmissionOptions;
  directGraceMs?: number;
  /** Direct pair ids that stayed silent in the last punch with this peer (silent-direct.ts):
   *  they do not hold a relay nomination back for the grace. */
  silentDirect?: ReadonlySet<string>;
  punchTimeoutMs?: number;
  consentIntervalMs?: number;
  consentTimeoutMs?: number;
  /** Randomness for consent jitter (tests pass a fixed one). */
  random?: () => number;
  /** Carry the session handshake in checks (see the header). */
  handshake?: CheckHandshake;
}

export interface CheckStats {
  checksSent: number;
  requestsAnswered: number;
  /** Checks whose USERNAME/MI/FINGERPRINT did not verify: not answered, no state touched. */
  requestsRejected: number;
  /** Responses that matched a transaction but failed MI: dropped, the check goes on. */
  responsesRejected: number;
  prflxLearned: number;
  roleConflicts: number;
}

export function newCheckStats(): CheckStats {
  return {
    checksSent: 0,
    requestsAnswered: 0,
    requestsRejected: 0,
    responsesRejected: 0,
    prflxLearned: 0,
    roleConflicts: 0,
  };
}

export function pairId(base: CandidateBase, remote: { address: string; port: number }): string {
  return `${base}|${endpointKey(remote)}`;
}

/** RFC 8445 §6.1.2.3: 2^32 × MIN(G,D) + 2 × MAX(G,D) + (G > D ? 1 : 0). */
export function pairPriority(g: number, d: number): bigint {
  const min = BigInt(Math.min(g, d));
  const max = BigInt(Math.max(g, d));
  return (min << 32n) + 2n * max + (g > d ? 1n : 0n);
}

export function txHex(id: Uint8Array): string {
  return Buffer.from(id.buffer, id.byteOffset, id.length).toString('hex');
}
