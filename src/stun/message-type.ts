/**
 * Message types: a 12-bit method and a 2-bit class interleaved in 14 bits (RFC 8489 §5):
 *
 *    0                 1
 *    2  3  4 5 6 7 8 9 0 1 2 3 4 5
 *   +--+--+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |M |M |M|M|M|C|M|M|M|C|M|M|M|M|
 *   |11|10|9|8|7|1|6|5|4|0|3|2|1|0|
 *   +--+--+-+-+-+-+-+-+-+-+-+-+-+-+
 */

export const StunClass = {
  Request: 0,
  Indication: 1,
  Success: 2,
  Error: 3,
} as const;
export type StunClass = (typeof StunClass)[keyof typeof StunClass];

/** Methods: RFC 8489 (Binding), RFC 8656 (TURN), RFC 6062 (TURN over TCP). */
export const Method = {
  Binding: 0x001,
  Allocate: 0x003,
  Refresh: 0x004,
  Send: 0x006,
  Data: 0x007,
  CreatePermission: 0x008,
  ChannelBind: 0x009,
  Connect: 0x00a,
  ConnectionBind: 0x00b,
  ConnectionAttempt: 0x00c,
} as const;
export type Method = (typeof Method)[keyof typeof Method];

export function messageType(method: number, cls: StunClass): number {
  if (!Number.isInteger(method) || method < 0 || method > 0xfff) {
    throw new RangeError(`STUN method must be 0..0xfff, got ${method}`);
  }
  return (
    ((method & 0xf80) << 2) |
    ((method & 0x070) << 1) |
    (method & 0x00f) |
    ((cls & 2) << 7) |
    ((cls & 1) << 4)
  );
}

export function methodOf(type: number): number {
  return ((type & 0x3e00) >> 2) | ((type & 0x00e0) >> 1) | (type & 0x000f);
}

export function classOf(type: number): StunClass {
  return (((type >> 7) & 2) | ((type >> 4) & 1)) as StunClass;
}

/** Binding request / success / error types, precomputed for the hot path. */
export const BINDING_REQUEST = 0x0001;
export const BINDING_SUCCESS = 0x0101;
export const BINDING_ERROR = 0x0111;
