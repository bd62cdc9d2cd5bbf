/**
 * The payload of a session's handshake-init (Noise IK message 1, encrypted to the responder's
 * static key and authenticated by the initiator's, Noise §7.7):
 *
 *   Ed25519 public key (32) ‖ timestamp u64 LE (8) ‖ 0-RTT records (early-data.ts, optional)
 *
 * The key binds the Noise static key to the peer's identity (WireGuard binds its static key to
 * nothing else; natpush peer ids are hashes of Ed25519 keys): the responder checks that it
 * hashes to the peer id it expects and that its X25519 conversion is the static key Noise
 * authenticated. The timestamp is strictly increasing per initiator, so a replayed init is
 * refused (WireGuard's TAI64N, whitepaper §5.1); the session compares it with the last accepted.
 */
import { timingSafeEqual } from 'node:crypto';
import { peerIdFromPublicKey } from '../signaling/identity.js';
import { INIT_PAYLOAD_BYTES } from './constants.js';
import { decodeRecords } from './early-data.js';
import { x25519PublicFromEd25519 } from './identity-keys.js';
import type { DropReason } from './session-types.js';

export function writeInitPayload(ed25519PublicB64u: string, ts: number, early: Uint8Array): Buffer {
  const payload = Buffer.alloc(INIT_PAYLOAD_BYTES + early.length);
  Buffer.from(ed25519PublicB64u, 'base64url').copy(payload, 0);
  payload.writeBigUInt64LE(BigInt(ts), 32);
  payload.set(early, INIT_PAYLOAD_BYTES);
  return payload;
}

export type InitPayload =
  | {
      ok: true;
      ts: number;
      early: Uint8Array[];
      /** The initiator's Ed25519 key (base64url) and its X25519 conversion. */
      edB64: string;
      converted: Uint8Array;
    }
  | { ok: false; reason: DropReason };

/** Check a decrypted init payload against the expected peer and Noise's authenticated key. */
export function readInitPayload(
  payload: Buffer,
  remotePeerId: string,
  noiseRemoteStatic: Uint8Array,
): InitPayload {
  if (payload.length < INIT_PAYLOAD_BYTES) return { ok: false, reason: 'malformed' };
  let early: Uint8Array[];
  try {
    early = decodeRecords(payload.subarray(INIT_PAYLOAD_BYTES));
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  const ed = payload.subarray(0, 32);
  const edB64 = Buffer.from(ed).toString('base64url');
  if (peerIdFromPublicKey(edB64) !== remotePeerId) return { ok: false, reason: 'wrong-peer' };
  let converted: Uint8Array;
  try {
    converted = x25519PublicFromEd25519(ed);
  } catch {
    return { ok: false, reason: 'bad-key' };
  }
  if (!timingSafeEqual(converted, noiseRemoteStatic)) return { ok: false, reason: 'identity' };
  return { ok: true, ts: Number(payload.readBigUInt64LE(32)), early, edB64, converted };
}
