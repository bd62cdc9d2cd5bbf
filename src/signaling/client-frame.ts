/**
 * Decoding a client's WebSocket frame, with one fast path. `ack` is half of all frames under
 * load (one per delivered notification), and running it through the zod schema was most of its
 * decode cost (bench/cluster-throughput profile: decode 12.6 % of serve's busy time). A frame
 * that starts the way clients write an ack (`JSON.stringify({type, ids})`) and is exactly what
 * protocol.ts `ack` accepts — an object with just `type: 'ack'` and `ids`, 1 to
 * LIMITS.maxAckIds strings of ID_PATTERN — is taken as is; anything else, a malformed ack
 * included, goes through `decodeFrame` and its schema, errors and all. The fast path accepts
 * only what the schema accepts, so it changes no answer.
 */
import { LIMITS } from './constants.js';
import { clientMessage, decodeFrame, ID_PATTERN, type ClientMessage } from './protocol.js';

const ACK_PREFIX = '{"type":"ack","ids":[';

export function decodeClientFrame(text: string, maxBytes: number): ClientMessage {
  if (text.startsWith(ACK_PREFIX) && text.length <= maxBytes) {
    const ack = plainAck(text);
    if (ack) return ack;
  }
  return decodeFrame(clientMessage, text, maxBytes);
}

/** The ack in `text` if it is exactly what the schema accepts; otherwise undefined. */
function plainAck(text: string): Extract<ClientMessage, { type: 'ack' }> | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null || Object.keys(v).length !== 2) return undefined;
  const { type, ids } = v as { type?: unknown; ids?: unknown };
  if (type !== 'ack' || !Array.isArray(ids)) return undefined;
  if (ids.length < 1 || ids.length > LIMITS.maxAckIds) return undefined;
  for (const id of ids) if (typeof id !== 'string' || !ID_PATTERN.test(id)) return undefined;
  return { type: 'ack', ids: ids as string[] };
}
