/**
 * Session tokens: proof that a peer answered a challenge, for transports that cannot run the
 * challenge inline (SSE, long-poll). `<peer>.<expires ms>.<HMAC-SHA256(server secret)>`;
 * stateless, so validating one costs an HMAC and no lookup. The secret is per process: after a
 * restart clients authenticate again, which they do anyway on reconnect. Serve nodes of one
 * cluster share one secret (kept in Redis, ../cluster/cluster-secret.ts), so an SSE or long-poll
 * client may be sent to any node by a load balancer.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../util/clock.js';
import { isPeerId } from './identity.js';

export class SessionTokens {
  readonly #secret: Buffer;
  readonly #clock: Clock;
  readonly #ttlMs: number;

  constructor(clock: Clock, ttlMs: number, secret: Buffer = randomBytes(32)) {
    if (secret.length < 32) throw new RangeError('session token secret: at least 32 bytes');
    this.#clock = clock;
    this.#ttlMs = ttlMs;
    this.#secret = secret;
  }

  mint(peer: string): { token: string; expires: number } {
    const expires = this.#clock.now() + this.#ttlMs;
    const body = `${peer}.${expires}`;
    return { token: `${body}.${this.#mac(body)}`, expires };
  }

  /** The peer id the token was minted for, or undefined if it is forged or expired. */
  verify(token: string | undefined): string | undefined {
    return this.open(token)?.peer;
  }

  /**
   * The peer and expiry (ms since the epoch) of a valid token, or undefined if it is forged or
   * expired. Streams opened with it end at `expires` (an SSE stream must not outlive its token).
   */
  open(token: string | undefined): { peer: string; expires: number } | undefined {
    if (!token || token.length > 200) return undefined;
    const parts = token.split('.');
    if (parts.length !== 3) return undefined;
    const [peer, exp, mac] = parts as [string, string, string];
    const expires = Number(exp);
    if (!isPeerId(peer) || !(expires > this.#clock.now())) return undefined;
    const want = Buffer.from(this.#mac(`${peer}.${exp}`));
    const got = Buffer.from(mac);
    return want.length === got.length && timingSafeEqual(want, got) ? { peer, expires } : undefined;
  }

  #mac(s: string): string {
    return createHmac('sha256', this.#secret).update(s).digest('base64url');
  }
}
