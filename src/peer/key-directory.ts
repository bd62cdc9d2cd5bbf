/**
 * The Ed25519 public keys of other peers, fetched from the server with `key-request` and trusted
 * only after `peerIdFromPublicKey(key) === peer` (CONTRACTS §1): a peer id is a hash of its key,
 * so a lying server can withhold a key but never substitute one. Used to seal notifications
 * (src/session/sealed.ts) and to start Noise IK sessions toward a peer.
 *
 * Bounded: `capacity` verified keys (LRU; default 4,096 — a key is 43 characters, so the table is
 * a few hundred KB at most, and a peer that talks to more peers than that re-fetches, one frame
 * each), and at most `maxPending` requests in flight (default 256; beyond it `get` fails at once
 * rather than queue without limit).
 */
import { randomBytes } from 'node:crypto';
import { SignalingError, SignalingErrorCode } from '../signaling/errors.js';
import { peerIdFromPublicKey } from '../signaling/identity.js';
import type { Clock, TimerHandle } from '../util/clock.js';

export interface KeyDirectoryOptions {
  /** Send `key-request {ref, peer}`; false when not connected (it is re-sent by `resend()`). */
  request: (ref: string, peer: string) => boolean;
  clock: Clock;
  capacity?: number;
  maxPending?: number;
  /** Give up on one lookup after this long (default 10,000 ms). */
  timeoutMs?: number;
}

interface Pending {
  peer: string;
  timer: TimerHandle;
  waiters: { resolve: (k: string) => void; reject: (e: unknown) => void }[];
}

export class KeyDirectory {
  readonly #o: KeyDirectoryOptions;
  readonly #keys = new Map<string, string>();
  readonly #pending = new Map<string, Pending>();
  readonly #byPeer = new Map<string, string>();
  readonly #capacity: number;
  readonly #maxPending: number;
  /** Answers whose key did not hash to the peer id asked for: a lying or broken server. */
  mismatches = 0;

  constructor(o: KeyDirectoryOptions) {
    this.#o = o;
    this.#capacity = o.capacity ?? 4_096;
    this.#maxPending = o.maxPending ?? 256;
    if (!(this.#capacity >= 1)) throw new RangeError('capacity must be >= 1');
  }

  /** A verified key already known (no request). */
  cached(peer: string): string | undefined {
    const k = this.#keys.get(peer);
    if (k !== undefined) {
      this.#keys.delete(peer);
      this.#keys.set(peer, k); // LRU touch
    }
    return k;
  }

  /** Remember a key learned another way (e.g. a sealed message's verified sender). */
  learn(peer: string, publicKey: string): void {
    if (peerIdFromPublicKey(publicKey) !== peer) return;
    this.#remember(peer, publicKey);
  }

  /** The peer's verified Ed25519 public key (base64url). Rejects with a typed SignalingError. */
  get(peer: string): Promise<string> {
    const k = this.cached(peer);
    if (k !== undefined) return Promise.resolve(k);
    const ref0 = this.#byPeer.get(peer);
    const existing = ref0 ? this.#pending.get(ref0) : undefined;
    return new Promise<string>((resolve, reject) => {
      if (existing) return void existing.waiters.push({ resolve, reject });
      if (this.#pending.size >= this.#maxPending)
        return reject(
          new SignalingError(
            SignalingErrorCode.RATE_LIMITED,
            `more than ${this.#maxPending} key lookups in flight`,
          ),
        );
      const ref = `k${randomBytes(9).toString('base64url')}`;
      const timeoutMs = this.#o.timeoutMs ?? 10_000;
      const timer = this.#o.clock.setTimeout(
        () =>
          this.#fail(
            ref,
            new SignalingError(
              SignalingErrorCode.REQUEST_TIMEOUT,
              `no key for ${peer} in ${timeoutMs} ms`,
            ),
          ),
        timeoutMs,
      );
      this.#pending.set(ref, { peer, timer, waiters: [{ resolve, reject }] });
      this.#byPeer.set(peer, ref);
      this.#o.request(ref, peer);
    });
  }

  /** The server's `key` answer. Returns false for an unknown ref or a key that does not match. */
  answer(ref: string, peer: string, publicKey: string): boolean {
    const p = this.#pending.get(ref);
    if (!p || p.peer !== peer) return false;
    let ok = false;
    try {
      ok = peerIdFromPublicKey(publicKey) === peer;
    } catch {
      ok = false;
    }
    if (!ok) {
      this.mismatches++;
      this.#fail(
        ref,
        new SignalingError(
          SignalingErrorCode.PEER_ID_MISMATCH,
          `the server's key for ${peer} does not hash to that peer id`,
        ),
      );
      return false;
    }
    this.#remember(peer, publicKey);
    this.#done(ref);
    for (const w of p.waiters) w.resolve(publicKey);
    return true;
  }

  /** An `error` frame naming a ref of ours (e.g. NATPUSH_ERR_UNKNOWN_PEER). */
  fail(ref: string, err: unknown): boolean {
    if (!this.#pending.has(ref)) return false;
    this.#fail(ref, err);
    return true;
  }

  /** After a reconnect: ask again for everything still pending. */
  resend(): void {
    for (const [ref, p] of this.#pending) this.#o.request(ref, p.peer);
  }

  close(err: unknown): void {
    for (const ref of [...this.#pending.keys()]) this.#fail(ref, err);
  }

  #remember(peer: string, key: string): void {
    this.#keys.delete(peer);
    this.#keys.set(peer, key);
    while (this.#keys.size > this.#capacity) {
      const oldest = this.#keys.keys().next().value;
      if (oldest === undefined) break;
      this.#keys.delete(oldest);
    }
  }

  #done(ref: string): void {
    const p = this.#pending.get(ref);
    if (!p) return;
    this.#pending.delete(ref);
    if (this.#byPeer.get(p.peer) === ref) this.#byPeer.delete(p.peer);
    p.timer.cancel();
  }

  #fail(ref: string, err: unknown): void {
    const p = this.#pending.get(ref);
    if (!p) return;
    this.#done(ref);
    for (const w of p.waiters) w.reject(err);
  }
}
