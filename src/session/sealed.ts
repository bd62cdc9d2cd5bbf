/**
 * Sealed notifications: one-way end-to-end encryption for the rungs without a live session
 * (server-routed `notify` and the mailbox). `Noise_X_25519_ChaChaPoly_SHA256` (Noise §7.3):
 * the sender knows the recipient's static key (its Ed25519 identity, converted, fetched with
 * `key-request`), sends an ephemeral key and its own static key encrypted; the recipient
 * authenticates the sender by the "ss" DH. The sender's Ed25519 public key rides in the payload,
 * and `open` checks that it converts to the handshake's static key, so the peer id it reports is
 * the one whose private key sealed the message — the server in between sees only ciphertext.
 *
 * Layout (wire.ts): C4 ver ‖ e (32) ‖ enc s (48) ‖ enc(Ed25519 public (32) ‖ plaintext) (+16).
 * The prologue binds the protocol label and the 2 header bytes, so a version downgrade fails.
 *
 * Not provided here, by design: replay protection. A sealed message can be delivered twice (the
 * mailbox may redeliver, a server could replay it); the caller puts the notification id inside
 * the plaintext and dedupes per (sender, id) (src/peer/dedupe.ts).
 */
import { timingSafeEqual } from 'node:crypto';
import { peerIdFromPublicKey, type Identity } from '../signaling/identity.js';
import { SessionError, SessionErrorCode } from './errors.js';
import { x25519KeyPairFromIdentity, x25519PublicFromEd25519 } from './identity-keys.js';
import { HandshakeState } from './noise.js';
import { MessageKind, parseMessage, sealedHeader } from './wire.js';

const PROLOGUE_LABEL = Buffer.from('natpush sealed\n', 'ascii');
const ED25519_PUBLIC_BYTES = 32;
/** Bytes `seal` adds to the plaintext: header 2 + e 32 + enc s 48 + sender key 32 + tag 16. */
export const SEALED_OVERHEAD = 2 + 32 + 48 + ED25519_PUBLIC_BYTES + 16;
/**
 * Largest plaintext sealed: 16 KiB, the HTTP body limit. Sealed and base64url-encoded it is
 * 22,019 characters, inside LIMITS.maxSealedBodyBytes (24 KiB) of a peer-sent `notify`.
 */
export const MAX_SEALED_PLAINTEXT = 16 * 1024;

export interface OpenedMessage {
  senderPeerId: string;
  /** The sender's raw Ed25519 public key, base64url. */
  senderPublicKey: string;
  plaintext: Uint8Array;
}

function prologue(): Buffer {
  return Buffer.concat([PROLOGUE_LABEL, sealedHeader()]);
}

/** Encrypt `plaintext` from `sender` to the peer whose Ed25519 public key is given (base64url). */
export function seal(
  sender: Identity,
  recipientEd25519PublicB64u: string,
  plaintext: Uint8Array,
): Uint8Array {
  if (plaintext.length > MAX_SEALED_PLAINTEXT)
    throw new RangeError(
      `sealed plaintext is ${plaintext.length} bytes, max ${MAX_SEALED_PLAINTEXT}`,
    );
  const rs = x25519PublicFromEd25519(Buffer.from(recipientEd25519PublicB64u, 'base64url'));
  const hs = new HandshakeState({
    pattern: 'X',
    initiator: true,
    prologue: prologue(),
    s: x25519KeyPairFromIdentity(sender),
    rs,
  });
  const payload = Buffer.concat([Buffer.from(sender.publicKey, 'base64url'), plaintext]);
  return Buffer.concat([sealedHeader(), hs.writeMessage(payload)]);
}

/**
 * Decrypt a sealed message addressed to `recipient`. Throws `SessionError`: MALFORMED,
 * UNSUPPORTED_VERSION, DECRYPT_FAILED (tampered or for someone else), IDENTITY_MISMATCH (the
 * claimed Ed25519 key is not the sealing key), BAD_KEY.
 */
export function open(recipient: Identity, sealed: Uint8Array): OpenedMessage {
  const msg = parseMessage(sealed);
  if (msg.kind !== MessageKind.SEALED)
    throw new SessionError(SessionErrorCode.MALFORMED, 'not a sealed message');
  const hs = new HandshakeState({
    pattern: 'X',
    initiator: false,
    prologue: prologue(),
    s: x25519KeyPairFromIdentity(recipient),
  });
  const payload = hs.readMessage(msg.noise);
  if (payload.length < ED25519_PUBLIC_BYTES)
    throw new SessionError(SessionErrorCode.MALFORMED, 'sealed payload lacks the sender key');
  const senderEd = payload.subarray(0, ED25519_PUBLIC_BYTES);
  const expected = x25519PublicFromEd25519(senderEd);
  const rs = hs.remoteStatic!;
  if (!timingSafeEqual(expected, rs))
    throw new SessionError(
      SessionErrorCode.IDENTITY_MISMATCH,
      'sender Ed25519 key does not match the sealing key',
    );
  const senderPublicKey = Buffer.from(senderEd).toString('base64url');
  return {
    senderPeerId: peerIdFromPublicKey(senderPublicKey),
    senderPublicKey,
    plaintext: new Uint8Array(payload.subarray(ED25519_PUBLIC_BYTES)),
  };
}
