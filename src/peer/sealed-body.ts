/**
 * End-to-end sealing of a peer-to-peer notification on the server rungs (server-routed and
 * mailbox; issue 9 "end-to-end on every rung"). The server sees the sender, the recipient, the
 * id, the size and the timing — never the topic or the body:
 *
 *   notify.body = "np1." ‖ base64url( seal(sender, recipientEd25519, envelope) )   (no topic)
 *   envelope    = 0x01 ‖ idLen u8 ‖ id (ASCII) ‖ topicLen u16 BE ‖ topic (UTF-8) ‖ body (UTF-8)
 *
 * The id inside must equal the id the server routed: a server that swaps ids (to make the
 * receiver's dedupe swallow a real notification) is caught. `seal` is Noise_X (src/session/sealed.ts),
 * which authenticates the sender; the receiver also checks that the sealing peer is the `from` the
 * server claims. Binary, not JSON: a 16 KiB body must fit MAX_SEALED_PLAINTEXT without escaping.
 */
import { MAX_SEALED_PLAINTEXT, open, seal } from '../session/sealed.js';
import type { Identity } from '../signaling/identity.js';

export const SEALED_BODY_PREFIX = 'np1.';
const ENVELOPE_VERSION = 1;

export interface SealedContent {
  id: string;
  topic?: string;
  body: string;
}

/** Bytes the envelope adds around the body for this id and topic. */
export function envelopeOverhead(id: string, topic?: string): number {
  return 1 + 1 + Buffer.byteLength(id) + 2 + (topic ? Buffer.byteLength(topic) : 0);
}

/** Largest body (UTF-8 bytes) that can be sealed with this id and topic. */
export function maxSealedBodyBytes(id: string, topic?: string): number {
  return MAX_SEALED_PLAINTEXT - envelopeOverhead(id, topic);
}

export function encodeEnvelope(c: SealedContent): Buffer {
  const id = Buffer.from(c.id, 'utf8');
  const topic = Buffer.from(c.topic ?? '', 'utf8');
  if (id.length > 255) throw new RangeError('id longer than 255 bytes');
  if (topic.length > 0xffff) throw new RangeError('topic too long');
  const head = Buffer.alloc(4 + id.length);
  head[0] = ENVELOPE_VERSION;
  head[1] = id.length;
  id.copy(head, 2);
  head.writeUInt16BE(topic.length, 2 + id.length);
  return Buffer.concat([head, topic, Buffer.from(c.body, 'utf8')]);
}

/** Throws TypeError on a malformed envelope (the caller counts and drops). */
export function decodeEnvelope(b: Uint8Array): SealedContent {
  const buf = Buffer.from(b.buffer, b.byteOffset, b.length);
  if (buf.length < 4 || buf[0] !== ENVELOPE_VERSION) throw new TypeError('bad envelope version');
  const idLen = buf[1]!;
  if (buf.length < 4 + idLen) throw new TypeError('truncated envelope');
  const id = buf.toString('utf8', 2, 2 + idLen);
  const topicLen = buf.readUInt16BE(2 + idLen);
  const topicEnd = 4 + idLen + topicLen;
  if (buf.length < topicEnd) throw new TypeError('truncated envelope');
  const topic = buf.toString('utf8', 4 + idLen, topicEnd);
  const body = buf.toString('utf8', topicEnd);
  return { id, ...(topicLen > 0 ? { topic } : {}), body };
}

/** The `notify.body` for `c`, sealed to the recipient's Ed25519 public key (base64url). */
export function sealBody(sender: Identity, recipientPublicKey: string, c: SealedContent): string {
  const env = encodeEnvelope(c);
  if (env.length > MAX_SEALED_PLAINTEXT)
    throw new RangeError(
      `body larger than ${maxSealedBodyBytes(c.id, c.topic)} bytes (sealed notifications carry at most ${MAX_SEALED_PLAINTEXT} bytes of id, topic and body)`,
    );
  return (
    SEALED_BODY_PREFIX + Buffer.from(seal(sender, recipientPublicKey, env)).toString('base64url')
  );
}

export function isSealedBody(body: string): boolean {
  return body.startsWith(SEALED_BODY_PREFIX);
}

export interface OpenedBody extends SealedContent {
  senderPeerId: string;
  senderPublicKey: string;
}

/** Open a sealed `notify.body`; throws (SessionError or TypeError) if it does not open. */
export function openBody(recipient: Identity, body: string): OpenedBody {
  if (!isSealedBody(body)) throw new TypeError('not a sealed body');
  const b64 = body.slice(SEALED_BODY_PREFIX.length);
  if (!/^[A-Za-z0-9_-]*$/.test(b64)) throw new TypeError('sealed body is not base64url');
  const o = open(recipient, Buffer.from(b64, 'base64url'));
  return {
    ...decodeEnvelope(o.plaintext),
    senderPeerId: o.senderPeerId,
    senderPublicKey: o.senderPublicKey,
  };
}
