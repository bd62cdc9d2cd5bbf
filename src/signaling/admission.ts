/**
 * Who may register (peer tokens) and who may post over HTTP (API keys).
 *
 * A peer token is either the static secret itself, or an HMAC-signed expiring token minted from
 * it (`mintPeerToken`): `v1.<peer id or *>.<expires unix s>.<base64url HMAC-SHA256>`. Signed
 * tokens let an operator hand out per-peer, time-limited admission without sharing the secret —
 * the same idea as the TURN REST API's ephemeral credentials (draft-uberti-behave-turn-rest).
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../util/clock.js';

export interface AdmissionOptions {
  clock: Clock;
  /** Secrets admitting peers; empty = open registration (any key pair may register). */
  peerTokens: readonly string[];
  /** API keys for `POST /v1/peers/{id}/notifications`; empty = HTTP posting refused. */
  apiKeys: readonly string[];
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function hmac(secret: string, text: string): string {
  return createHmac('sha256', secret).update(text).digest('base64url');
}

/** Mint an expiring token admitting `peer` ('*' = any peer) until `expiresUnixS`. */
export function mintPeerToken(secret: string, peer: string, expiresUnixS: number): string {
  if (!secret) throw new TypeError('secret must not be empty');
  if (!Number.isInteger(expiresUnixS)) throw new RangeError('expiry must be integer seconds');
  const body = `v1.${peer}.${expiresUnixS}`;
  return `${body}.${hmac(secret, body)}`;
}

/** A short public label for an API key: who posted, without revealing the key. */
export function apiKeyLabel(key: string): string {
  return 'app:' + createHash('sha256').update(key).digest('hex').slice(0, 12);
}

export class Admission {
  readonly #o: AdmissionOptions;

  constructor(o: AdmissionOptions) {
    this.#o = o;
  }

  get requiresPeerToken(): boolean {
    return this.#o.peerTokens.length > 0;
  }

  /** True when `token` admits `peer` now. */
  admitsPeer(peer: string, token: string | undefined): boolean {
    if (!this.requiresPeerToken) return true;
    if (token === undefined) return false;
    for (const secret of this.#o.peerTokens) {
      if (safeEqual(token, secret)) return true;
      if (this.#signedTokenValid(secret, peer, token)) return true;
    }
    return false;
  }

  /** The label of the API key presented in an `Authorization: Bearer` header, or undefined. */
  apiKeyFrom(authorization: string | undefined): string | undefined {
    if (!authorization) return undefined;
    const m = /^Bearer\s+(\S+)$/i.exec(authorization);
    if (!m?.[1]) return undefined;
    const presented = m[1];
    for (const k of this.#o.apiKeys) if (safeEqual(presented, k)) return apiKeyLabel(k);
    return undefined;
  }

  #signedTokenValid(secret: string, peer: string, token: string): boolean {
    const parts = token.split('.');
    if (parts.length !== 4 || parts[0] !== 'v1') return false;
    const [, who, exp, mac] = parts as [string, string, string, string];
    if (who !== '*' && who !== peer) return false;
    const expires = Number(exp);
    if (!Number.isInteger(expires) || expires * 1000 < this.#o.clock.now()) return false;
    return safeEqual(mac, hmac(secret, `v1.${who}.${exp}`));
  }
}
