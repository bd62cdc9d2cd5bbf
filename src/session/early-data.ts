/**
 * 0-RTT data of a handshake carried in a connectivity check (secure-session.ts,
 * `initForCheck` / `answerInCheck`): the payloads queued when the init is written ride in its
 * Noise payload after the identity and timestamp, and the responder's replies ride in its answer.
 *
 *   records = n × (length u16 BE ‖ payload)      (length ≥ 1; empty payloads are keepalives)
 */

/**
 * 0-RTT bytes in an init or answer carried in a connectivity check: the check (≈ 100 bytes of
 * STUN + a 136-byte init + this) stays under the 1,200 bytes the channel sizes datagrams to
 * (no IP fragmentation on any path with an MTU ≥ 1,280, RFC 8200 §5).
 */
export const MAX_EARLY_DATA_BYTES = 800;
/** Each 0-RTT payload: a 2-byte big-endian length, then the payload. */
const EARLY_RECORD_HEADER = 2;

/**
 * Payloads as 0-RTT records, oldest first, as many as fit in MAX_EARLY_DATA_BYTES; `carried`
 * are the payloads that went in (the caller drops them from its queue once the peer has them).
 */
export function encodeRecords(payloads: readonly Uint8Array[]): {
  bytes: Buffer;
  carried: Uint8Array[];
} {
  const parts: Uint8Array[] = [];
  const carried: Uint8Array[] = [];
  let size = 0;
  for (const p of payloads) {
    if (size + EARLY_RECORD_HEADER + p.length > MAX_EARLY_DATA_BYTES) break;
    const h = Buffer.alloc(EARLY_RECORD_HEADER);
    h.writeUInt16BE(p.length, 0);
    parts.push(h, p);
    carried.push(p);
    size += EARLY_RECORD_HEADER + p.length;
  }
  return { bytes: Buffer.concat(parts), carried };
}

/** Inverse of encodeRecords; throws on a truncated or empty record (the payload is malformed). */
export function decodeRecords(b: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  if (b.length > MAX_EARLY_DATA_BYTES) throw new RangeError('0-RTT data too large');
  let i = 0;
  while (i < b.length) {
    if (i + EARLY_RECORD_HEADER > b.length) throw new RangeError('truncated 0-RTT record');
    const n = (b[i]! << 8) | b[i + 1]!;
    i += EARLY_RECORD_HEADER;
    if (n === 0 || i + n > b.length) throw new RangeError('bad 0-RTT record');
    out.push(Buffer.from(b.subarray(i, i + n)));
    i += n;
  }
  return out;
}
