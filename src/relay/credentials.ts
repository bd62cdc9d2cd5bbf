/**
 * TURN credentials.
 *
 * Long-term credentials (RFC 8489 §9.2): the server looks a user's password up in a
 * `CredentialStore`; the HMAC key is then derived by `longTermKey` of the STUN module
 * (MD5(username ":" realm ":" password), or SHA-256 of it).
 *
 * Short-lived credentials, the "TURN REST API" convention (draft-uberti-behave-turn-rest-00) that
 * coturn implements as `use-auth-secret` / `static-auth-secret`:
 *   username = "<expiry unix seconds>:<user id>"
 *   password = base64(HMAC-SHA1(secret, username))
 * Any party holding the secret mints them; the relay checks the expiry and recomputes the password,
 * so `natpush serve` and the relay need to share nothing but the secret. Credentials minted here
 * are accepted by coturn and vice versa.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { DEFAULT_CREDENTIAL_TTL_S } from './constants.js';

export interface TurnCredentials {
  readonly username: string;
  readonly password: string;
  /** Seconds the credentials stay valid (the TURN REST API response's "ttl"). */
  readonly ttl: number;
  /** Unix seconds after which the relay refuses them. */
  readonly expiresAt: number;
}

/** The password of a TURN REST username under `secret`. */
export function restPassword(secret: string | Uint8Array, username: string): string {
  return createHmac('sha1', secret).update(username, 'utf8').digest('base64');
}

/**
 * Mint short-lived TURN credentials for `userId` (coturn `use-auth-secret` format).
 * `nowMs` is injectable for tests; defaults to the wall clock.
 */
export function mintTurnCredentials(
  secret: string | Uint8Array,
  userId: string,
  ttlSeconds: number = DEFAULT_CREDENTIAL_TTL_S,
  nowMs: number = Date.now(),
): TurnCredentials {
  if (secret.length === 0) throw new TypeError('TURN secret must not be empty');
  if (!Number.isInteger(ttlSeconds) || ttlSeconds <= 0) {
    throw new RangeError(`ttl must be a positive integer of seconds, got ${ttlSeconds}`);
  }
  if (userId.includes(':'))
    throw new TypeError('user id must not contain ":" (the REST separator)');
  const expiresAt = Math.floor(nowMs / 1000) + ttlSeconds;
  const username = userId === '' ? String(expiresAt) : `${expiresAt}:${userId}`;
  return { username, password: restPassword(secret, username), ttl: ttlSeconds, expiresAt };
}

/**
 * The expiry in a TURN REST username, or undefined if it does not start with a timestamp.
 * coturn accepts "expiry:user" and also a bare "expiry"; so do we.
 */
export function restUsernameExpiry(username: string): number | undefined {
  const head = username.split(':', 1)[0] ?? '';
  if (!/^\d{1,12}$/.test(head)) return undefined;
  return Number(head);
}

/** Where the server finds a user's password. */
export interface CredentialStore {
  /**
   * The password for `username` in `realm`, or undefined for an unknown user or expired
   * short-lived credentials (→ 401). `nowMs` is the server clock.
   */
  password(username: string, realm: string, nowMs: number): string | undefined;
  /** The user a quota applies to (for REST usernames, the part after the timestamp). */
  userOf(username: string): string;
}

/** Fixed users, as coturn's `user=name:password` lines. */
export function staticUsers(users: Record<string, string>): CredentialStore {
  const map = new Map(Object.entries(users));
  return { password: (u) => map.get(u), userOf: (u) => u };
}

/** Short-lived credentials minted from a shared secret (coturn `static-auth-secret`). */
export function sharedSecret(secret: string | Uint8Array): CredentialStore {
  if (secret.length === 0) throw new TypeError('the shared secret must not be empty');
  return {
    password(username, _realm, nowMs) {
      const expiry = restUsernameExpiry(username);
      if (expiry === undefined || expiry * 1000 < nowMs) return undefined;
      return restPassword(secret, username);
    },
    userOf: (u) => {
      const i = u.indexOf(':');
      return i < 0 ? u : u.slice(i + 1);
    },
  };
}

/** Constant-time equality of two byte strings of possibly different length. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
