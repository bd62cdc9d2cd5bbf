/**
 * The message a ReliableChannel carries (reliable-frames.ts: the fragments of consecutive pns):
 * kind u8 (1 = notification) ‖ id length u8 ‖ id ‖ topic length u16 ‖ topic (UTF-8) ‖ body
 * (UTF-8, the rest); and the checks of what an app may send (CONTRACTS §1).
 */
import { FrameError } from './reliable-frames.js';

export interface Notification {
  id: string;
  topic?: string;
  body: string;
}

const MESSAGE_NOTIFICATION = 1;
/** CONTRACTS §1: ids are `^[A-Za-z0-9_.:-]{1,64}$`. */
export const ID_PATTERN = /^[A-Za-z0-9_.:-]{1,64}$/;

/**
 * `ID_PATTERN.test(id)` as a loop over char codes: the regex was ~2.5 % of a 1,000-byte flood's
 * CPU (both sides, one check each way; perf), much of it in V8's runtime RegExpExec.
 */
export function isValidId(id: string): boolean {
  const n = id.length;
  if (n < 1 || n > 64) return false;
  for (let i = 0; i < n; i++) {
    const c = id.charCodeAt(i);
    if (!(
      (c >= 0x61 && c <= 0x7a) || // a-z
      (c >= 0x41 && c <= 0x5a) || // A-Z
      (c >= 0x30 && c <= 0x3a) || // 0-9 and ':'
      c === 0x5f || // _
      c === 0x2e || // .
      c === 0x2d // -
    ))
      return false;
  }
  return true;
}
export const MAX_TOPIC_CHARS = 128;
// C0/C1 controls and bidi overrides/isolates (CONTRACTS §1: "printable, no control or bidi").
// eslint-disable-next-line no-control-regex
const BAD_TOPIC_CHARS = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

export function isValidTopic(topic: string): boolean {
  return topic.length <= MAX_TOPIC_CHARS && !BAD_TOPIC_CHARS.test(topic);
}

/**
 * Bytes of a notification's encoding (`topicBytes`, `bodyBytes`: their UTF-8 lengths). `id` must
 * pass isValidId (ASCII: one byte per character); the caller checks.
 */
export function notificationBytes(id: string, topicBytes: number, bodyBytes: number): number {
  return 4 + id.length + topicBytes + bodyBytes;
}

/**
 * Write the encoding of `n` at `out[at]` (its UTF-8 lengths measured by the caller; the room is
 * `notificationBytes` long): the sender writes a message that fits one data frame straight into
 * the datagram it goes in, with no Buffer of its own per notification.
 */
export function writeNotification(
  out: Buffer,
  at: number,
  n: Notification,
  topicBytes: number,
  bodyBytes: number,
): void {
  const idLen = n.id.length;
  out[at] = MESSAGE_NOTIFICATION;
  out[at + 1] = idLen;
  // The id is ASCII and short (≤ 64): a loop beats `write`'s argument checks and native call.
  for (let i = 0; i < idLen; i++) out[at + 2 + i] = n.id.charCodeAt(i);
  out[at + 2 + idLen] = topicBytes & 0xff;
  out[at + 3 + idLen] = topicBytes >>> 8;
  if (topicBytes > 0) out.write(n.topic!, at + 4 + idLen, topicBytes, 'utf8');
  if (bodyBytes > 0) out.write(n.body, at + 4 + idLen + topicBytes, bodyBytes, 'utf8');
}

/** `id` must pass isValidId (ASCII: one byte per character); the caller checks. */
export function encodeNotification(
  n: Notification,
  /** The body's UTF-8 length, if the caller already measured it (it is a scan of the string). */
  bodyBytes?: number,
): Buffer {
  const topicBytes = n.topic ? Buffer.byteLength(n.topic, 'utf8') : 0;
  const bodyLen = bodyBytes ?? Buffer.byteLength(n.body, 'utf8');
  const out = Buffer.allocUnsafe(notificationBytes(n.id, topicBytes, bodyLen));
  writeNotification(out, 0, n, topicBytes, bodyLen);
  return out;
}

/** The notification encoded in `b[s, e)` (the whole of `b` by default). */
export function decodeNotification(b: Buffer, s = 0, e = b.length): Notification {
  if (e - s < 4 || b[s] !== MESSAGE_NOTIFICATION) throw new FrameError('not a notification');
  const idLen = b[s + 1]!;
  if (e - s < 4 + idLen) throw new FrameError('truncated id');
  const id = b.toString('latin1', s + 2, s + 2 + idLen);
  const topicLen = b[s + 2 + idLen]! | (b[s + 3 + idLen]! << 8);
  const topicStart = s + 4 + idLen;
  if (e < topicStart + topicLen) throw new FrameError('truncated topic');
  const body = b.toString('utf8', topicStart + topicLen, e);
  if (!isValidId(id)) throw new FrameError('bad notification id');
  if (topicLen === 0) return { id, body };
  const topic = b.toString('utf8', topicStart, topicStart + topicLen);
  if (!isValidTopic(topic)) throw new FrameError('bad topic');
  return { id, topic, body };
}
