/**
 * The vocabulary of a SecureSession (secure-session.ts): its options, counters, states, and why
 * a datagram was dropped (a stable label per reason, counted in `stats.dropped`).
 */
import type { Identity } from '../signaling/identity.js';
import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import type { Aead } from './aead.js';
import type { SessionTimers } from './constants.js';
import { SessionError, SessionErrorCode } from './errors.js';

export type SessionState = 'idle' | 'handshaking' | 'established' | 'closed';

export type DropReason =
  | 'malformed'
  | 'version'
  | 'decrypt'
  | 'bad-key'
  | 'identity'
  | 'wrong-peer'
  | 'stale-handshake'
  | 'lost-tie-break'
  | 'unknown-index'
  | 'replayed'
  | 'expired'
  | 'rate-limited'
  | 'early-data-outside-check'
  | 'closed';

export type HandleResult =
  | { ok: true; kind: 'handshake-init' | 'handshake-resp' | 'data' | 'keepalive' }
  | { ok: false; reason: DropReason };

export interface SecureSessionOptions {
  identity: Identity;
  remotePeerId: string;
  /** The remote's raw Ed25519 public key (base64url), if known; required to initiate. */
  remotePublicKey?: string;
  clock: Clock;
  send: (datagram: Uint8Array) => void;
  logger?: Logger;
  timers?: Partial<SessionTimers>;
  /** ChaCha20-Poly1305 backend (aead.ts). Default: libsodium when it loads, else node:crypto. */
  aead?: Aead;
}

export interface SessionStats {
  handshakesInitiated: number;
  handshakesCompleted: number;
  /** Inits from the remote accepted and answered (a copy answered from the cache is not counted). */
  handshakesAnswered: number;
  datagramsSent: number;
  datagramsReceived: number;
  queueDropped: number;
  dropped: Partial<Record<DropReason, number>>;
}

/** The drop label for an error thrown while reading a handshake message. */
export function reasonOf(e: unknown): DropReason {
  if (e instanceof SessionError) {
    if (e.code === SessionErrorCode.BAD_KEY) return 'bad-key';
    if (e.code === SessionErrorCode.MALFORMED) return 'malformed';
  }
  return 'decrypt';
}
