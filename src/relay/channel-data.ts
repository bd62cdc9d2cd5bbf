/**
 * ChannelData messages (RFC 8656 §12.4), the TURN hot path: a 4-byte header instead of a STUN
 * message, so forwarding never parses STUN.
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |         Channel Number        |            Length             |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   /                       Application Data                        /
 *   /                                                               /
 *   |                                                               |
 *   |                               +-------------------------------+
 *   |                               |      (padding over TCP)       |
 *   +-------------------------------+
 *
 * §12.5: over TCP/TLS the message is padded to a multiple of 4 bytes (padding not counted in
 * Length); over UDP padding is optional, so receivers accept both and ignore trailing bytes.
 */
import { ACCEPTED_CHANNEL_MAX, CHANNEL_MIN } from './constants.js';

export const CHANNEL_DATA_HEADER_BYTES = 4;

/** RFC 7983: first byte 64–79 (0x40–0x4F) is TURN ChannelData. */
export function isChannelData(data: Uint8Array): boolean {
  const b = data[0];
  return b !== undefined && b >= 0x40 && b <= 0x4f;
}

/** 0x4000–0x7FFF: RFC 8656's range plus RFC 5766's (see ACCEPTED_CHANNEL_MAX). */
export function isValidChannelNumber(n: number): boolean {
  return Number.isInteger(n) && n >= CHANNEL_MIN && n <= ACCEPTED_CHANNEL_MAX;
}

/** Bytes of a ChannelData message with `payloadBytes` of data, padded when `stream`. */
export function channelDataSize(payloadBytes: number, stream: boolean): number {
  const n = CHANNEL_DATA_HEADER_BYTES + payloadBytes;
  return stream ? (n + 3) & ~3 : n;
}

/**
 * Write a ChannelData header and payload into `out` at `offset`; returns the bytes written
 * (padded with zeros when `stream`). Throws RangeError on misuse.
 */
export function writeChannelData(
  out: Uint8Array,
  offset: number,
  channel: number,
  payload: Uint8Array,
  stream: boolean,
): number {
  if (!isValidChannelNumber(channel)) throw new RangeError(`bad channel number ${channel}`);
  if (payload.length > 0xffff) throw new RangeError('ChannelData payload exceeds 65535 bytes');
  const size = channelDataSize(payload.length, stream);
  if (offset + size > out.length) throw new RangeError('output buffer too small for ChannelData');
  out[offset] = channel >>> 8;
  out[offset + 1] = channel & 0xff;
  out[offset + 2] = payload.length >>> 8;
  out[offset + 3] = payload.length & 0xff;
  out.set(payload, offset + CHANNEL_DATA_HEADER_BYTES);
  for (let i = offset + CHANNEL_DATA_HEADER_BYTES + payload.length; i < offset + size; i++)
    out[i] = 0;
  return size;
}

/** A fresh ChannelData message. */
export function encodeChannelData(
  channel: number,
  payload: Uint8Array,
  stream = false,
): Uint8Array {
  const out = new Uint8Array(channelDataSize(payload.length, stream));
  writeChannelData(out, 0, channel, payload, stream);
  return out;
}

/** Channel number of a ChannelData message, or -1 if `data` is too short / not ChannelData. */
export function channelOf(data: Uint8Array): number {
  if (data.length < CHANNEL_DATA_HEADER_BYTES) return -1;
  const n = (data[0]! << 8) | data[1]!;
  return isValidChannelNumber(n) ? n : -1;
}

/**
 * Payload length of a ChannelData datagram, or -1 when the datagram is shorter than its Length
 * field says (§12.5: such a message is discarded). Longer is fine: padding or UDP trailer.
 */
export function channelDataPayloadLength(data: Uint8Array): number {
  if (data.length < CHANNEL_DATA_HEADER_BYTES) return -1;
  const len = (data[2]! << 8) | data[3]!;
  return CHANNEL_DATA_HEADER_BYTES + len <= data.length ? len : -1;
}

export interface ChannelData {
  readonly channel: number;
  /** A view into the input, not a copy. */
  readonly payload: Uint8Array;
}

/** Decode a ChannelData datagram; undefined when malformed (bad channel number, truncated). */
export function decodeChannelData(data: Uint8Array): ChannelData | undefined {
  const channel = channelOf(data);
  if (channel < 0) return undefined;
  const len = channelDataPayloadLength(data);
  if (len < 0) return undefined;
  return {
    channel,
    payload: data.subarray(CHANNEL_DATA_HEADER_BYTES, CHANNEL_DATA_HEADER_BYTES + len),
  };
}
