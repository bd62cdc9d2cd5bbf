/**
 * Decoding a client's WebSocket frame, with two fast paths for the two frames that are nearly
 * all of the traffic under load: `ack` (one per delivered notification) and `notify` (one per
 * notification sent). Running them through the zod schemas was most of their decode cost
 * (bench/cluster-throughput profile: decode 12.6 % of serve's busy time; after the ack path,
 * bench/signaling-vs-ws --cpu-prof still had zod and the body refines at ~4 % for `notify`).
 *
 * A frame that starts the way clients write one (`JSON.stringify({type, ...})`) and is exactly
 * what protocol.ts accepts is taken as is: for `ack`, an object with just `type: 'ack'` and
 * `ids`, 1 to LIMITS.maxAckIds strings of ID_PATTERN; for `notify`, an object with `type`,
 * `ref`, `id`, `to`, `body` and optionally `topic` and `ttl`, each what its field schema takes,
 * and a body short enough that its two size limits (UTF-8 bytes, and bytes once JSON-escaped)
 * hold whatever its characters (3 and 6 bytes per code unit at most). Anything else — a
 * malformed frame, an extra key, a long body — goes through `decodeFrame` and its schema,
 * errors and all. The fast paths accept only what the schema accepts and return what it
 * returns, so they change no answer (test/unit/signaling/client-frame.test.ts compares them).
 */
import { LIMITS } from './constants.js';
import { PEER_ID_PATTERN } from './identity.js';
import {
  clientMessage,
  decodeFrame,
  ENVELOPE_RESERVE_BYTES,
  ID_PATTERN,
  isSafeTopic,
  type ClientMessage,
} from './protocol.js';

const ACK_PREFIX = '{"type":"ack","ids":[';
const NOTIFY_PREFIX = '{"type":"notify",';

/**
 * The longest body (in UTF-16 code units) whose limits hold without measuring it: at most 3
 * UTF-8 bytes per code unit (`maxSealedBodyBytes`), at most 6 once JSON-escaped (`\u0001`) plus
 * the quotes (the frame room left after ENVELOPE_RESERVE_BYTES, protocol-fields.ts bodyOf).
 */
export const FAST_BODY_MAX = Math.min(
  Math.floor(LIMITS.maxSealedBodyBytes / 3),
  Math.floor((LIMITS.maxFrameBytes - ENVELOPE_RESERVE_BYTES - 2) / 6),
);

type Notify = Extract<ClientMessage, { type: 'notify' }>;
type Ack = Extract<ClientMessage, { type: 'ack' }>;

export function decodeClientFrame(text: string, maxBytes: number): ClientMessage {
  // String length is a lower bound of the UTF-8 size: a longer text is refused by decodeFrame.
  if (text.length <= maxBytes) {
    if (text.startsWith(ACK_PREFIX)) {
      const ack = plainAck(text);
      if (ack) return ack;
    } else if (text.startsWith(NOTIFY_PREFIX) && withinBytes(text, maxBytes)) {
      const notify = plainNotify(text);
      if (notify) return notify;
    }
  }
  return decodeFrame(clientMessage, text, maxBytes);
}

/** UTF-8 size of `text` ≤ `maxBytes`, measured only when 3 bytes per code unit might not fit. */
function withinBytes(text: string, maxBytes: number): boolean {
  return text.length * 3 <= maxBytes || Buffer.byteLength(text, 'utf8') <= maxBytes;
}

function parseObject(text: string): Record<string, unknown> | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  return v as Record<string, unknown>;
}

/** The ack in `text` if it is exactly what the schema accepts; otherwise undefined. */
function plainAck(text: string): Ack | undefined {
  const v = parseObject(text);
  if (!v || Object.keys(v).length !== 2) return undefined;
  const { type, ids } = v;
  if (type !== 'ack' || !Array.isArray(ids)) return undefined;
  if (ids.length < 1 || ids.length > LIMITS.maxAckIds) return undefined;
  for (const id of ids) if (typeof id !== 'string' || !ID_PATTERN.test(id)) return undefined;
  return { type: 'ack', ids: ids as string[] };
}

/**
 * The notify in `text` if it is exactly what the schema (client-messages.ts `notify`, a strict
 * object) accepts and its body is at most FAST_BODY_MAX code units; otherwise undefined. The
 * result has the schema's key order, without the optional keys that are absent.
 */
function plainNotify(text: string): Notify | undefined {
  const v = parseObject(text);
  if (!v) return undefined;
  let n = 0;
  for (const k in v) {
    if (!Object.hasOwn(v, k) || !NOTIFY_KEYS.has(k)) return undefined;
    n++;
  }
  const { type, ref, id, to, topic, body, ttl } = v;
  if (n !== 5 + (topic === undefined ? 0 : 1) + (ttl === undefined ? 0 : 1)) return undefined;
  if (type !== 'notify' || !isId(ref) || !isId(id)) return undefined;
  if (typeof to !== 'string' || !PEER_ID_PATTERN.test(to)) return undefined;
  if (typeof body !== 'string' || body.length > FAST_BODY_MAX) return undefined;
  if (topic !== undefined && (typeof topic !== 'string' || !isSafeTopic(topic))) return undefined;
  if (ttl !== undefined && !isTtl(ttl)) return undefined;
  return {
    type,
    ref,
    id,
    to,
    ...(topic !== undefined ? { topic } : {}),
    body,
    ...(ttl !== undefined ? { ttl } : {}),
  } as Notify;
}

const NOTIFY_KEYS: ReadonlySet<string> = new Set([
  'type',
  'ref',
  'id',
  'to',
  'topic',
  'body',
  'ttl',
]);

function isId(s: unknown): s is string {
  return typeof s === 'string' && ID_PATTERN.test(s);
}

/** protocol-fields.ts `ttlSeconds`: an integer in 1..maxTtlSeconds. */
function isTtl(t: unknown): t is number {
  return Number.isInteger(t) && (t as number) >= 1 && (t as number) <= LIMITS.maxTtlSeconds;
}
