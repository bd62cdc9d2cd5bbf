/**
 * Connectivity-check messages, pure (RFC 8445 §7.1.1, §7.3, §16; RFC 8489 §9.1 short-term
 * credentials). A check is a STUN Binding request:
 *
 *   USERNAME            "<remote ufrag>:<local ufrag>"           who it is for, who sends it
 *   PRIORITY            priority a prflx candidate of ours would get
 *   ICE-CONTROLLING / ICE-CONTROLLED   64-bit tie-breaker        role (§7.1.1, §7.3.1.1)
 *   USE-CANDIDATE       (controlling only) nominate this pair    (§7.1.2)
 *   NATPUSH-HANDSHAKE   (optional) a session handshake datagram  (0xC0E1, comprehension-optional)
 *   MESSAGE-INTEGRITY   HMAC-SHA1 keyed with the REMOTE pwd      (§7.2.2)
 *   FINGERPRINT         (§7.2.2; also what RFC 7983 demux relies on)
 *
 * The success response carries XOR-MAPPED-ADDRESS (the source seen) and MESSAGE-INTEGRITY keyed
 * with the same pwd, the responder's own (§7.3.1.2). Nothing is answered unless the request
 * verifies, so a third party without the per-session pwd can neither make us answer nor forge an
 * answer (the response's MI needs the pwd too).
 */
import { randomBytes } from 'node:crypto';
import type { Endpoint } from '../net/udp.js';
import { Attr } from '../stun/attribute-type.js';
import { readString, readUint32, readUint64 } from '../stun/attributes.js';
import { shortTermKey, verifyFingerprint, verifyIntegrity } from '../stun/integrity.js';
import { StunMessageBuilder } from '../stun/message-builder.js';
import { BINDING_ERROR, BINDING_REQUEST, BINDING_SUCCESS, Method } from '../stun/message-type.js';
import type { StunMessage } from '../stun/message.js';
import { StunClass } from '../stun/message-type.js';

export interface IceCredentials {
  /** RFC 8445 §5.3: at least 24 bits of randomness; ice-char = ALPHA / DIGIT / "+" / "/". */
  readonly ufrag: string;
  /** At least 128 bits of randomness. */
  readonly pwd: string;
}

export type Role = 'controlling' | 'controlled';

/**
 * A natpush session handshake datagram (a Noise IK init in a check, its answer in the success
 * response: secure-session.ts), so the first direct round trip also sets up the session. In the
 * comprehension-optional range (RFC 8489 §14: other ICE agents ignore it), before
 * MESSAGE-INTEGRITY so that the MI covers it: it is read only from a check or answer that
 * verified, and the datagram is authenticated again by Noise.
 */
export const ATTR_HANDSHAKE = 0xc0e1;
/** Largest NATPUSH-HANDSHAKE value accepted (an init with 0-RTT data; keeps a check < 1,200 B). */
export const MAX_HANDSHAKE_ATTR_BYTES = 1_000;

const ICE_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

function iceString(length: number): string {
  // 64 symbols: each byte's low 6 bits pick one uniformly (6 bits of entropy per char).
  const bytes = randomBytes(length);
  let s = '';
  for (const b of bytes) s += ICE_CHARS[b & 63];
  return s;
}

/**
 * Fresh per-session credentials: 8-char ufrag (48 bits), 24-char pwd (144 bits); within the
 * `candidates` frame schema (ufrag 4–32, pwd 22–64 of [A-Za-z0-9+/]).
 */
export function newIceCredentials(): IceCredentials {
  return { ufrag: iceString(8), pwd: iceString(24) };
}

/** A fresh 64-bit tie-breaker (RFC 8445 §7.1.1: random, kept for the session). */
export function newTieBreaker(): bigint {
  return randomBytes(8).readBigUInt64BE(0);
}

export interface CheckRequest {
  local: IceCredentials;
  remote: IceCredentials;
  /** Priority of the peer-reflexive candidate this check could reveal (RFC 8445 §7.1.1). */
  priority: number;
  role: Role;
  tieBreaker: bigint;
  useCandidate?: boolean;
  /** A session handshake datagram to carry (ATTR_HANDSHAKE). */
  handshake?: Uint8Array;
}

export function buildCheck(o: CheckRequest): Uint8Array {
  const b = new StunMessageBuilder(BINDING_REQUEST)
    .addString(Attr.Username, `${o.remote.ufrag}:${o.local.ufrag}`)
    .addUint32(Attr.Priority, o.priority)
    .addUint64(o.role === 'controlling' ? Attr.IceControlling : Attr.IceControlled, o.tieBreaker);
  if (o.useCandidate && o.role === 'controlling') b.addFlag(Attr.UseCandidate);
  if (o.handshake && o.handshake.length <= MAX_HANDSHAKE_ATTR_BYTES)
    b.addBytes(ATTR_HANDSHAKE, o.handshake);
  return b.addIntegrity(shortTermKey(o.remote.pwd)).addFingerprint().build();
}

/** RFC 8445 §7.3.1.2: success, XOR-MAPPED-ADDRESS = the request's source, MI with our pwd. */
export function buildCheckSuccess(
  request: StunMessage,
  from: Endpoint,
  localPwd: string,
  handshake?: Uint8Array,
): Uint8Array {
  const b = new StunMessageBuilder(BINDING_SUCCESS, request.transactionId).addXorAddress(
    Attr.XorMappedAddress,
    from,
  );
  if (handshake && handshake.length <= MAX_HANDSHAKE_ATTR_BYTES)
    b.addBytes(ATTR_HANDSHAKE, handshake);
  return b.addIntegrity(shortTermKey(localPwd)).addFingerprint().build();
}

/** RFC 8445 §7.3.1.1: 487 Role Conflict, MI with our pwd. */
export function buildRoleConflict(request: StunMessage, localPwd: string): Uint8Array {
  return new StunMessageBuilder(BINDING_ERROR, request.transactionId)
    .addErrorCode(487, 'Role Conflict')
    .addIntegrity(shortTermKey(localPwd))
    .addFingerprint()
    .build();
}

/** The local ufrag a request is addressed to (USERNAME before the colon), for routing. */
export function checkTarget(msg: StunMessage): string | undefined {
  if (msg.method !== Method.Binding || msg.cls !== StunClass.Request) return undefined;
  let username: string | undefined;
  try {
    username = readString(msg, Attr.Username);
  } catch {
    return undefined;
  }
  const i = username?.indexOf(':') ?? -1;
  return i > 0 ? username!.slice(0, i) : undefined;
}

export interface VerifiedCheck {
  priority: number;
  useCandidate: boolean;
  /** The sender's role and tie-breaker. */
  role: Role;
  tieBreaker: bigint;
  /** The NATPUSH-HANDSHAKE value, covered by the MI that verified (undefined: none or too big). */
  handshake?: Uint8Array;
}

/**
 * Verify a check addressed to us (RFC 8445 §7.3: USERNAME = "<local>:<remote>", MI with the local
 * pwd, FINGERPRINT, PRIORITY and exactly one role attribute). undefined = do not answer.
 */
export function verifyCheck(
  msg: StunMessage,
  local: IceCredentials,
  remote: IceCredentials,
): VerifiedCheck | undefined {
  try {
    if (msg.method !== Method.Binding || msg.cls !== StunClass.Request) return undefined;
    if (!verifyFingerprint(msg)) return undefined;
    if (readString(msg, Attr.Username) !== `${local.ufrag}:${remote.ufrag}`) return undefined;
    if (!verifyIntegrity(msg, shortTermKey(local.pwd), 'sha1')) return undefined;
    const priority = readUint32(msg, Attr.Priority);
    const controlling = readUint64(msg, Attr.IceControlling);
    const controlled = readUint64(msg, Attr.IceControlled);
    if (priority === undefined || (controlling === undefined) === (controlled === undefined))
      return undefined;
    const handshake = msg.get(ATTR_HANDSHAKE);
    return {
      priority,
      useCandidate: msg.has(Attr.UseCandidate),
      ...(handshake && handshake.length <= MAX_HANDSHAKE_ATTR_BYTES ? { handshake } : {}),
      role: controlling !== undefined ? 'controlling' : 'controlled',
      tieBreaker: controlling ?? controlled!,
    };
  } catch {
    return undefined; // a malformed attribute: not a check we answer
  }
}

/** The NATPUSH-HANDSHAKE of a response that passed verifyCheckResponse (the MI covers it). */
export function responseHandshake(msg: StunMessage): Uint8Array | undefined {
  const h = msg.get(ATTR_HANDSHAKE);
  return h && h.length <= MAX_HANDSHAKE_ATTR_BYTES ? h : undefined;
}

/** A response to our check counts only with the remote pwd's MI and a good FINGERPRINT. */
export function verifyCheckResponse(msg: StunMessage, remote: IceCredentials): boolean {
  try {
    return verifyFingerprint(msg) && verifyIntegrity(msg, shortTermKey(remote.pwd), 'sha1');
  } catch {
    return false;
  }
}
