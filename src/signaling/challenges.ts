/**
 * Fresh, single-use challenges. A nonce is issued with an expiry; `consume` accepts it once and
 * then forgets it, so a captured `auth` (or `POST /v1/session`) cannot be replayed. Expired
 * nonces are swept lazily, and the table is bounded so a flood of `hello`s cannot grow it
 * without limit (oldest entries go first: they are the ones closest to expiring anyway).
 */
import { randomBytes } from 'node:crypto';
import type { Clock } from '../util/clock.js';
import { SignalingError, SignalingErrorCode } from './errors.js';
import { challengeText, verifySignature, peerIdFromPublicKey } from './identity.js';

export interface ChallengeOptions {
  clock: Clock;
  /** Server id bound into every challenge (identity.ts `challengeText`). */
  serverId: string;
  /** Default TIMING.challengeTtlMs. */
  ttlMs: number;
  /** Most outstanding challenges (default 100,000: ~10 MB). */
  maxOutstanding?: number;
}

export interface IssuedChallenge {
  server: string;
  nonce: string;
  expires: number;
}

interface Outstanding {
  expires: number;
  peer: string;
}

export class ChallengeBook {
  readonly #o: ChallengeOptions;
  readonly #max: number;
  /** Insertion-ordered: Map iteration order is the issue order. */
  readonly #open = new Map<string, Outstanding>();
  /** Recently consumed nonces, kept until expiry so a replay says "replayed", not "unknown". */
  readonly #used = new Map<string, number>();

  constructor(o: ChallengeOptions) {
    this.#o = o;
    this.#max = o.maxOutstanding ?? 100_000;
  }

  get outstanding(): number {
    return this.#open.size;
  }

  issue(peer: string): IssuedChallenge {
    this.#sweep();
    while (this.#open.size >= this.#max) {
      const oldest = this.#open.keys().next().value;
      if (oldest === undefined) break;
      this.#open.delete(oldest);
    }
    const nonce = randomBytes(18).toString('base64url');
    const expires = this.#o.clock.now() + this.#o.ttlMs;
    this.#open.set(nonce, { expires, peer });
    return { server: this.#o.serverId, nonce, expires };
  }

  /**
   * Verify `signature` over the challenge `nonce` by `publicKey` for `peer`, consuming the nonce.
   * Throws SignalingError: CHALLENGE_REPLAYED, CHALLENGE_EXPIRED, PEER_ID_MISMATCH, BAD_SIGNATURE.
   */
  consume(nonce: string, peer: string, publicKey: string, signature: string): void {
    const now = this.#o.clock.now();
    const open = this.#open.get(nonce);
    if (!open) {
      const code = this.#used.has(nonce) ? 'replayed' : 'unknown';
      throw new SignalingError(
        SignalingErrorCode.CHALLENGE_REPLAYED,
        `challenge ${code}: a challenge is good for one answer`,
      );
    }
    this.#open.delete(nonce);
    this.#used.set(nonce, open.expires);
    verifyAnswer(
      { server: this.#o.serverId, nonce, expires: open.expires, peer: open.peer },
      { peer, publicKey, signature },
      now,
    );
  }

  #sweep(): void {
    const now = this.#o.clock.now();
    for (const [n, c] of this.#open) {
      if (c.expires >= now) break;
      this.#open.delete(n);
    }
    for (const [n, exp] of this.#used) {
      if (exp >= now) break;
      this.#used.delete(n);
    }
    while (this.#used.size > this.#max) {
      const oldest = this.#used.keys().next().value;
      if (oldest === undefined) break;
      this.#used.delete(oldest);
    }
  }
}

/**
 * Check an answer to the issued challenge `c` (for peer `c.peer`), already taken out of its
 * table: in time, by the key whose id is the peer's, signed over `challengeText`. Shared with the
 * cluster's challenges in Redis (cluster/cluster-challenges.ts). Throws SignalingError:
 * CHALLENGE_EXPIRED, PEER_ID_MISMATCH, BAD_SIGNATURE.
 */
export function verifyAnswer(
  c: IssuedChallenge & { peer: string },
  a: { peer: string; publicKey: string; signature: string },
  now: number,
): void {
  if (now > c.expires) {
    throw new SignalingError(SignalingErrorCode.CHALLENGE_EXPIRED, 'challenge expired');
  }
  let derived: string;
  try {
    derived = peerIdFromPublicKey(a.publicKey);
  } catch {
    throw new SignalingError(
      SignalingErrorCode.PEER_ID_MISMATCH,
      'public key is not an Ed25519 key',
    );
  }
  if (derived !== a.peer || c.peer !== a.peer) {
    throw new SignalingError(
      SignalingErrorCode.PEER_ID_MISMATCH,
      'peer id does not match the public key',
    );
  }
  const text = challengeText({
    server: c.server,
    nonce: c.nonce,
    expires: c.expires,
    peer: a.peer,
  });
  if (!verifySignature(a.publicKey, text, a.signature)) {
    throw new SignalingError(SignalingErrorCode.BAD_SIGNATURE, 'signature does not verify');
  }
}
