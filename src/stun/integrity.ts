/**
 * Credentials and message integrity (RFC 8489 §9, §14.5–§14.7).
 *
 * Keys:
 *   short-term  key = OpaqueString(password)                                       (§9.1.1)
 *   long-term   key = MD5(username ":" OpaqueString(realm) ":" OpaqueString(password))
 *               or SHA-256 of the same when PASSWORD-ALGORITHM is SHA-256          (§9.2.2)
 * OpaqueString (RFC 8265 §4.2) is approximated by Unicode NFC; the full PRECIS profile also
 * rejects some code points, which only matters for passwords nobody types.
 *
 * The HMAC covers the message up to the attribute before MESSAGE-INTEGRITY, with the header
 * length field set as if MESSAGE-INTEGRITY were the last attribute (§14.5). We hash a patched
 * copy of the 20-byte header and then the body in place, so verifying copies 20 bytes, not the
 * message.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { Attr, PasswordAlgorithm } from './attribute-type.js';
import { FINGERPRINT_XOR, HEADER_BYTES } from './constants.js';
import { crc32 } from './crc32.js';
import type { StunMessage } from './message.js';

export function opaqueString(s: string): string {
  return s.normalize('NFC');
}

export function shortTermKey(password: string): Buffer {
  return Buffer.from(opaqueString(password), 'utf8');
}

export function longTermKey(
  username: string,
  realm: string,
  password: string,
  algorithm: PasswordAlgorithm = PasswordAlgorithm.MD5,
): Buffer {
  const input = `${username}:${opaqueString(realm)}:${opaqueString(password)}`;
  const hash = algorithm === PasswordAlgorithm.SHA256 ? 'sha256' : 'md5';
  if (algorithm !== PasswordAlgorithm.MD5 && algorithm !== PasswordAlgorithm.SHA256) {
    throw new RangeError(`unknown password algorithm ${algorithm as number}`);
  }
  return createHash(hash).update(input, 'utf8').digest();
}

/** RFC 8489 §14.4: USERHASH = SHA-256(OpaqueString(username) ":" OpaqueString(realm)). */
export function userhash(username: string, realm: string): Buffer {
  return createHash('sha256')
    .update(`${opaqueString(username)}:${opaqueString(realm)}`, 'utf8')
    .digest();
}

/** HMAC over raw[0..end) with the header length field replaced by `lengthField`. */
export function hmacOver(
  algorithm: 'sha1' | 'sha256',
  key: Uint8Array,
  raw: Uint8Array,
  end: number,
  lengthField: number,
): Buffer {
  const header = Buffer.from(raw.buffer, raw.byteOffset, HEADER_BYTES);
  const patched = Buffer.allocUnsafe(HEADER_BYTES);
  header.copy(patched);
  patched.writeUInt16BE(lengthField, 2);
  return createHmac(algorithm, key)
    .update(patched)
    .update(raw.subarray(HEADER_BYTES, end))
    .digest();
}

export type IntegrityCheck = 'sha1' | 'sha256';

/**
 * Verify MESSAGE-INTEGRITY (`'sha1'`) or MESSAGE-INTEGRITY-SHA256 (`'sha256'`) with `key`.
 * Without `which`, MI-SHA256 is checked when present, else MI (RFC 8489 §9.2.4: prefer the
 * stronger). Returns false when the attribute is absent or does not match.
 */
export function verifyIntegrity(
  msg: StunMessage,
  key: Uint8Array,
  which?: IntegrityCheck,
): boolean {
  const use: IntegrityCheck = which ?? (msg.integritySha256Offset >= 0 ? 'sha256' : 'sha1');
  const offset = use === 'sha256' ? msg.integritySha256Offset : msg.integrityOffset;
  if (offset < 0) return false;
  const raw = msg.raw;
  const len = (raw[offset + 2]! << 8) | raw[offset + 3]!;
  const expected = raw.subarray(offset + 4, offset + 4 + len);
  const mac = hmacOver(use, key, raw, offset, offset + 4 + len - HEADER_BYTES);
  return timingSafeEqual(mac.subarray(0, len), expected);
}

/** RFC 8489 §14.7: FINGERPRINT present and equal to CRC-32(message before it) XOR 0x5354554e. */
export function verifyFingerprint(msg: StunMessage): boolean {
  const o = msg.fingerprintOffset;
  if (o < 0) return false;
  const raw = msg.raw;
  const expected =
    ((raw[o + 4]! << 24) | (raw[o + 5]! << 16) | (raw[o + 6]! << 8) | raw[o + 7]!) >>> 0;
  // The length field already covers FINGERPRINT because it is the last attribute.
  return (crc32(raw, 0, o) ^ FINGERPRINT_XOR) >>> 0 === expected;
}

/** Which integrity attributes a message carries, for servers deciding what to verify. */
export function integrityKinds(msg: StunMessage): IntegrityCheck[] {
  const out: IntegrityCheck[] = [];
  if (msg.has(Attr.MessageIntegrity)) out.push('sha1');
  if (msg.has(Attr.MessageIntegritySha256)) out.push('sha256');
  return out;
}
