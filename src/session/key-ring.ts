/**
 * The transport keypairs of a SecureSession (secure-session.ts), after WireGuard (whitepaper
 * §5.4.6–§6): `current` (send + receive), `previous` (receive only, for stragglers after a
 * rekey), and `candidates` — the responder's answers to inits, awaiting key confirmation (the
 * first transport message under them; the responder never sends on unconfirmed keys, so a
 * replayed or forged init cannot make it switch to keys nobody else holds).
 */
import type { CipherState } from './cipher-state.js';
import type { TransportKeys } from './noise.js';
import { ReplayWindow } from './replay-window.js';

export interface Keypair {
  localIndex: number;
  remoteIndex: number;
  send: CipherState;
  receive: CipherState;
  sendCounter: number;
  replay: ReplayWindow;
  createdAt: number;
  /** We sent the handshake-init that made it. */
  weInitiated: boolean;
  /**
   * Our queued payloads that rode as 0-RTT data in the answer that made it (a responder's
   * answer in a check): once the peer confirms these keys it has read them, so they leave the
   * queue instead of going again.
   */
  earlyCarried?: Uint8Array[];
}

/** Unconfirmed answers kept (each: two cipher states and a 256-byte replay bitmap). */
export const CANDIDATES_KEPT = 3;

export function newKeypair(
  keys: TransportKeys,
  localIndex: number,
  remoteIndex: number,
  createdAt: number,
  weInitiated: boolean,
): Keypair {
  return {
    localIndex,
    remoteIndex,
    send: keys.send,
    receive: keys.receive,
    sendCounter: 0,
    replay: new ReplayWindow(),
    createdAt,
    weInitiated,
  };
}

export function destroyKeypair(kp: Keypair | undefined): void {
  kp?.send.destroy();
  kp?.receive.destroy();
}

export class KeyRing {
  current: Keypair | undefined;
  previous: Keypair | undefined;
  /**
   * Our answers to the peer's inits, awaiting its first transport message (newest last). More
   * than one because over lossy paths the peer may complete with an earlier answer than our
   * latest (it keeps earlier inits answerable too). Bound: CANDIDATES_KEPT.
   */
  candidates: Keypair[] = [];

  /** The keypair a transport message's receiver index selects (current first: no array). */
  find(localIndex: number): Keypair | undefined {
    const cur = this.current;
    if (cur?.localIndex === localIndex) return cur;
    if (this.previous?.localIndex === localIndex) return this.previous;
    return this.candidates.find((k) => k.localIndex === localIndex);
  }

  owns(localIndex: number): boolean {
    return this.find(localIndex) !== undefined;
  }

  /** Make `kp` current; the current one moves to previous (receive only). */
  install(kp: Keypair): void {
    destroyKeypair(this.previous);
    this.previous = this.current;
    this.current = kp;
  }

  /** Keep a new unconfirmed answer (the oldest beyond CANDIDATES_KEPT is destroyed). */
  addCandidate(kp: Keypair): void {
    this.candidates.push(kp);
    if (this.candidates.length > CANDIDATES_KEPT) destroyKeypair(this.candidates.shift());
  }

  get newestCandidate(): Keypair | undefined {
    return this.candidates[this.candidates.length - 1];
  }

  /**
   * A message authenticated under `kp`: if it is a candidate, the peer holds it (key
   * confirmation). Answers older than it are dead (the peer completed with a later init); newer
   * ones may still be confirmed. Returns 'installed' if `kp` became current, 'kept' if ours are
   * newer (we keep receiving on it; the peer switches when it hears from us), undefined if `kp`
   * was no candidate.
   */
  confirm(kp: Keypair): 'installed' | 'kept' | undefined {
    const ci = this.candidates.indexOf(kp);
    if (ci < 0) return undefined;
    for (const c of this.candidates.slice(0, ci)) destroyKeypair(c);
    this.candidates = this.candidates.slice(ci + 1);
    const current = this.current;
    if (!current || kp.createdAt >= current.createdAt) {
      this.install(kp);
      return 'installed';
    }
    destroyKeypair(this.previous);
    this.previous = kp;
    return 'kept';
  }

  destroy(): void {
    for (const kp of [this.current, this.previous, ...this.candidates]) destroyKeypair(kp);
    this.current = this.previous = undefined;
    this.candidates = [];
  }
}
