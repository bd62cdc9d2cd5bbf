/**
 * Wire format of natpush's end-to-end session messages.
 *
 * Demultiplexing (RFC 7983 as updated by RFC 9443): on the peer's one UDP socket the first byte
 * tells protocols apart — STUN 0–3, DTLS 20–63, TURN ChannelData 64–79, QUIC 64–127 (short header),
 * RTP/RTCP 128–191 — and leaves 192–255 unassigned. natpush takes 0xC0–0xCF: the high nibble 0xC
 * marks a session message, the low nibble is its kind. Byte 1 is the format version, so a later
 * version can change everything after it and an old peer can tell "newer" from "garbage".
 * All integers are little-endian (as Noise's nonce and WireGuard's header).
 *
 * | kind | name           | layout (bytes)                                                          | size      |
 * |------|----------------|-------------------------------------------------------------------------|-----------|
 * | 0xC1 | handshake-init | C1 ver ‖ sender index u32 ‖ Noise IK msg 1: e (32) ‖ enc s (32+16)      | 142       |
 * |      |                |   ‖ enc payload (40+16); payload = Ed25519 public (32) ‖ timestamp u64  |           |
 * | 0xC2 | handshake-resp | C2 ver ‖ sender index u32 ‖ receiver index u32 ‖ Noise IK msg 2:        | 58        |
 * |      |                |   e (32) ‖ enc empty payload (16)                                       |           |
 * | 0xC3 | transport      | C3 ver ‖ receiver index u32 ‖ counter u64 ‖ ChaChaPoly(payload) (n+16)  | 30 + n    |
 * |      |                |   AD = the 14 header bytes; nonce = counter; empty payload = keepalive  |           |
 * | 0xC4 | sealed         | C4 ver ‖ Noise X msg: e (32) ‖ enc s (48) ‖ enc (Ed25519 public ‖ body) | 130 + n   |
 *
 * Indexes are random per handshake (WireGuard whitepaper §5.4.2): they route a datagram to its
 * session and keypair without trusting the source address (which a NAT rebinding changes), and are
 * authenticated only as far as they select a key — a forged index just fails decryption.
 *
 * Sequence (IK; A knows B's Ed25519 key from B's peer id via the server's `key-request`):
 * ```mermaid
 * sequenceDiagram
 *   A->>B: handshake-init (A's Ed25519 key + timestamp, encrypted to B)
 *   Note over B: check peer id, static = converted key, timestamp newer than last
 *   B->>A: handshake-resp
 *   A->>B: transport (counter 0, empty = confirmation)
 *   Note over B: the new keys are confirmed; B may send with them
 *   A-->>B: transport …
 *   B-->>A: transport …
 * ```
 */
import type { CipherState } from './cipher-state.js';
import { SessionError, SessionErrorCode } from './errors.js';

export const SESSION_VERSION = 1;

export const MessageKind = {
  HANDSHAKE_INIT: 0xc1,
  HANDSHAKE_RESP: 0xc2,
  TRANSPORT: 0xc3,
  SEALED: 0xc4,
} as const;
export type MessageKind = (typeof MessageKind)[keyof typeof MessageKind];

export const INIT_HEADER_BYTES = 6;
export const RESP_HEADER_BYTES = 10;
export const TRANSPORT_HEADER_BYTES = 14;
export const TAG_BYTES = 16;
/** Bytes a transport datagram adds to its payload: header + Poly1305 tag. */
export const TRANSPORT_OVERHEAD = TRANSPORT_HEADER_BYTES + TAG_BYTES;
/** Noise IK message 1 with natpush's 40-byte payload: 32 + 48 + 56. */
export const INIT_NOISE_BYTES = 32 + 48 + 40 + 16;
/** Noise IK message 2 with an empty payload: 32 + 16. */
export const RESP_NOISE_BYTES = 32 + 16;
/**
 * Largest session datagram accepted. 65507 is the most a UDP/IPv4 datagram can carry; the
 * `p2p` signaling frame carries at most 1400 bytes anyway (CONTRACTS §1).
 */
export const MAX_DATAGRAM_BYTES = 65507;

/** True for bytes whose first byte is in natpush's session range 0xC0–0xCF (RFC 7983/9443). */
export function isSessionDatagram(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && (bytes[0]! & 0xf0) === 0xc0;
}

export type ParsedMessage =
  | { kind: typeof MessageKind.HANDSHAKE_INIT; senderIndex: number; noise: Uint8Array }
  | {
      kind: typeof MessageKind.HANDSHAKE_RESP;
      senderIndex: number;
      receiverIndex: number;
      noise: Uint8Array;
    }
  | {
      kind: typeof MessageKind.TRANSPORT;
      receiverIndex: number;
      counter: number;
      header: Uint8Array;
      ciphertext: Uint8Array;
    }
  | { kind: typeof MessageKind.SEALED; noise: Uint8Array };

/**
 * A little-endian u32 read straight from the bytes: a DataView per datagram (as before) was a
 * measurable share of a flood receiver's own time in a profile, for four byte loads.
 */
function u32(b: Uint8Array, at: number): number {
  return (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
}

function isKind(b: number): b is MessageKind {
  return b >= MessageKind.HANDSHAKE_INIT && b <= MessageKind.SEALED;
}

/** Parse the framing (not the crypto). Throws `SessionError` MALFORMED / UNSUPPORTED_VERSION. */
export function parseMessage(bytes: Uint8Array): ParsedMessage {
  if (!isSessionDatagram(bytes))
    throw new SessionError(SessionErrorCode.MALFORMED, 'not a session message');
  if (bytes.length > MAX_DATAGRAM_BYTES)
    throw new SessionError(SessionErrorCode.MALFORMED, 'session message too large');
  const kind = bytes[0]!;
  if (!isKind(kind))
    throw new SessionError(
      SessionErrorCode.MALFORMED,
      `unknown message kind 0x${kind.toString(16)}`,
    );
  if (bytes[1] !== SESSION_VERSION)
    throw new SessionError(
      SessionErrorCode.UNSUPPORTED_VERSION,
      `session version ${bytes[1]} (this peer speaks ${SESSION_VERSION})`,
    );
  switch (kind) {
    case MessageKind.HANDSHAKE_INIT:
      // Longer with 0-RTT data (an init carried in a connectivity check, secure-session.ts).
      expectLength(bytes, INIT_HEADER_BYTES + INIT_NOISE_BYTES, false);
      return {
        kind,
        senderIndex: u32(bytes, 2),
        noise: bytes.subarray(INIT_HEADER_BYTES),
      };
    case MessageKind.HANDSHAKE_RESP:
      expectLength(bytes, RESP_HEADER_BYTES + RESP_NOISE_BYTES, false);
      return {
        kind,
        senderIndex: u32(bytes, 2),
        receiverIndex: u32(bytes, 6),
        noise: bytes.subarray(RESP_HEADER_BYTES),
      };
    case MessageKind.TRANSPORT: {
      expectLength(bytes, TRANSPORT_OVERHEAD, false);
      const lo = u32(bytes, 6);
      const hi = u32(bytes, 10);
      // Counters past 2^53 cannot occur (sessions rekey long before, see cipher-state.ts).
      if (hi >= 0x200000)
        throw new SessionError(SessionErrorCode.MALFORMED, 'transport counter out of range');
      return {
        kind,
        receiverIndex: u32(bytes, 2),
        counter: hi * 2 ** 32 + lo,
        header: bytes.subarray(0, TRANSPORT_HEADER_BYTES),
        ciphertext: bytes.subarray(TRANSPORT_HEADER_BYTES),
      };
    }
    default:
      return { kind: MessageKind.SEALED, noise: bytes.subarray(2) };
  }
}

function expectLength(bytes: Uint8Array, n: number, exact: boolean): void {
  if (exact ? bytes.length !== n : bytes.length < n)
    throw new SessionError(
      SessionErrorCode.MALFORMED,
      `session message kind 0x${bytes[0]!.toString(16)}: ${bytes.length} bytes, expected ${exact ? '' : '≥ '}${n}`,
    );
}

export function encodeInit(senderIndex: number, noise: Uint8Array): Buffer {
  const out = Buffer.alloc(INIT_HEADER_BYTES + noise.length);
  out[0] = MessageKind.HANDSHAKE_INIT;
  out[1] = SESSION_VERSION;
  out.writeUInt32LE(senderIndex, 2);
  out.set(noise, INIT_HEADER_BYTES);
  return out;
}

export function encodeResp(senderIndex: number, receiverIndex: number, noise: Uint8Array): Buffer {
  const out = Buffer.alloc(RESP_HEADER_BYTES + noise.length);
  out[0] = MessageKind.HANDSHAKE_RESP;
  out[1] = SESSION_VERSION;
  out.writeUInt32LE(senderIndex, 2);
  out.writeUInt32LE(receiverIndex, 6);
  out.set(noise, RESP_HEADER_BYTES);
  return out;
}

/** The 14-byte transport header; it is the AEAD's associated data. */
export function encodeTransportHeader(receiverIndex: number, counter: number): Buffer {
  const out = Buffer.allocUnsafe(TRANSPORT_HEADER_BYTES);
  writeTransportHeader(out, receiverIndex, counter);
  return out;
}

function writeTransportHeader(out: Buffer, receiverIndex: number, counter: number): void {
  out[0] = MessageKind.TRANSPORT;
  out[1] = SESSION_VERSION;
  out.writeUInt32LE(receiverIndex, 2);
  out.writeUInt32LE(counter >>> 0, 6);
  out.writeUInt32LE(Math.floor(counter / 2 ** 32), 10);
}

/**
 * A whole transport datagram in one allocation: the header written in place and `payload`
 * sealed after it, under the header as associated data (no separate header Buffer, no copy).
 */
export function sealTransport(
  cs: CipherState,
  receiverIndex: number,
  counter: number,
  payload: Uint8Array,
): Buffer {
  const out = Buffer.allocUnsafe(TRANSPORT_OVERHEAD + payload.length);
  writeTransportHeader(out, receiverIndex, counter);
  cs.encryptWithNonceInto(
    counter,
    out.subarray(0, TRANSPORT_HEADER_BYTES),
    payload,
    out.subarray(TRANSPORT_HEADER_BYTES),
  );
  return out;
}

/** Header of a sealed message: kind and version (also the Noise prologue's tail). */
export function sealedHeader(): Buffer {
  return Buffer.from([MessageKind.SEALED, SESSION_VERSION]);
}

/**
 * The receiver index of a handshake-resp or transport datagram (what a demultiplexer routes on),
 * or undefined for other messages. Does not validate anything else.
 */
export function peekReceiverIndex(bytes: Uint8Array): number | undefined {
  if (bytes[0] === MessageKind.TRANSPORT && bytes.length >= TRANSPORT_HEADER_BYTES)
    return u32(bytes, 2);
  if (bytes[0] === MessageKind.HANDSHAKE_RESP && bytes.length >= RESP_HEADER_BYTES)
    return u32(bytes, 6);
  return undefined;
}
