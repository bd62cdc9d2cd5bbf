/**
 * The long-term credential check of a TURN request (RFC 8489 §9.2.4, RFC 8656 §5), pure.
 *
 *   no MESSAGE-INTEGRITY(-SHA256)            → 401 with REALM and a fresh NONCE
 *   integrity but no USERNAME/REALM/NONCE     → 400
 *   NONCE expired or not ours                 → 438 with REALM and a fresh NONCE
 *   unknown user / expired REST credentials   → 401 with REALM and NONCE
 *   integrity does not verify                 → 401 with REALM and NONCE
 *   otherwise                                 → the key to sign the response with
 *
 * The 401/438 responses carry no MESSAGE-INTEGRITY (the client cannot have the key yet).
 */
import type { StunMessage } from '../stun/index.js';
import { Attr, longTermKey, readString, verifyIntegrity } from '../stun/index.js';
import type { CredentialStore } from './credentials.js';
import { TurnErrorCode } from './errors.js';
import type { NonceMinter } from './nonce.js';

export type AuthResult =
  | { ok: true; username: string; user: string; key: Uint8Array }
  | { ok: false; status: TurnErrorCode; detail: string; challenge: boolean };

export interface AuthContext {
  realm: string;
  credentials: CredentialStore;
  nonces: NonceMinter;
}

export function authenticate(
  ctx: AuthContext,
  msg: StunMessage,
  clientKey: string,
  now: number,
): AuthResult {
  const hasIntegrity = msg.integrityOffset >= 0 || msg.integritySha256Offset >= 0;
  if (!hasIntegrity) return fail(TurnErrorCode.Unauthorized, 'credentials required', true);
  const username = readString(msg, Attr.Username);
  const realm = readString(msg, Attr.Realm);
  const nonce = readString(msg, Attr.Nonce);
  if (username === undefined || realm === undefined || nonce === undefined) {
    return fail(TurnErrorCode.BadRequest, 'USERNAME, REALM and NONCE are required', false);
  }
  if (ctx.nonces.check(nonce, clientKey, now) !== 'valid') {
    return fail(TurnErrorCode.StaleNonce, 'stale nonce', true);
  }
  const password = realm === ctx.realm ? ctx.credentials.password(username, realm, now) : undefined;
  if (password === undefined) return fail(TurnErrorCode.Unauthorized, 'unknown user', true);
  const key = longTermKey(username, realm, password);
  if (!verifyIntegrity(msg, key)) return fail(TurnErrorCode.Unauthorized, 'bad integrity', true);
  return { ok: true, username, user: ctx.credentials.userOf(username), key };
}

function fail(status: TurnErrorCode, detail: string, challenge: boolean): AuthResult {
  return { ok: false, status, detail, challenge };
}
