/**
 * The pure core of the STUN server: bytes in, decision out (STYLE.md §2). No sockets here.
 *
 * RFC 5780 §4 server layout: up to four transport addresses, two IPs × two ports,
 *
 *                  port P1          port P2
 *   address A1   [0][0] primary   [0][1] alternate port
 *   address A2   [1][0]           [1][1]
 *
 * A request received on [a][p] with CHANGE-REQUEST{ip, port} is answered from
 * [ip ? 1-a : a][port ? 1-p : p] (§6.1); OTHER-ADDRESS names [1-a][1-p] (§7.4), or the one
 * alternate that exists; RESPONSE-ORIGIN names the address the response is sent from (§7.3).
 *
 * Amplification (RFC 5780 §9.1, RFC 8489 §16.1.3 reflection): an unauthenticated response is at
 * most `maxAmplification` × the request's size on the wire (IP + UDP headers counted: that is the
 * bandwidth a reflection attack multiplies), except that XOR-MAPPED-ADDRESS — the answer itself —
 * is always sent. Optional attributes are added in priority order while they fit. With the
 * default 2×, a bare 20-byte IPv4 request (48 bytes on the wire) gets up to 68 bytes: the mapped
 * address, OTHER-ADDRESS and RESPONSE-ORIGIN, which is what RFC 5780 clients such as coturn's
 * turnutils_natdiscovery need; a client that wants everything sends PADDING (RFC 5780 §7.6).
 */
import type { Endpoint } from '../net/udp.js';
import { Attr } from './attribute-type.js';
import { readChangeRequest, readResponsePort } from './attributes.js';
import {
  HEADER_BYTES,
  IPV4_UDP_HEADER_BYTES,
  IPV6_UDP_HEADER_BYTES,
  MAGIC_COOKIE,
} from './constants.js';
import { StunDecodeError } from './errors.js';
import { StunMessageBuilder } from './message-builder.js';
import { BINDING_ERROR, BINDING_SUCCESS, Method, StunClass } from './message-type.js';
import { decodeStunMessage, isStunMessage } from './message.js';

/** [addressIndex][portIndex] → the server's transport address, when it listens there. */
export type ServerGrid = readonly [
  readonly [Endpoint, Endpoint | undefined],
  readonly [Endpoint | undefined, Endpoint | undefined],
];

export interface ResponderConfig {
  grid: ServerGrid;
  /** SOFTWARE value, or undefined for none. */
  software: string | undefined;
  /** Response size bound relative to the request, default 2. */
  maxAmplification: number;
}

/** `rate-limited` and `reply-budget` are the server's (server.ts), not this pure core's. */
export type DropReason = 'not-stun' | 'malformed' | 'not-request' | 'rate-limited' | 'reply-budget';

export type Decision =
  | {
      kind: 'reply';
      bytes: Uint8Array;
      via: readonly [number, number];
      /** Where to send it; the request's source unless RESPONSE-PORT said otherwise. */
      to: Endpoint;
      what: 'binding' | 'change' | 'error';
    }
  | { kind: 'drop'; reason: DropReason };

/** Attributes a Binding request may carry that we understand (RFC 8489 §14, RFC 5780 §7). */
const KNOWN = new Set<number>([
  Attr.ChangeRequest,
  Attr.ResponsePort,
  Attr.Padding,
  Attr.Username,
  Attr.MessageIntegrity,
  Attr.MessageIntegritySha256,
  Attr.Userhash,
  Attr.Realm,
  Attr.Nonce,
  Attr.Priority,
  Attr.UseCandidate,
]);

function concrete(e: Endpoint | undefined): Endpoint | undefined {
  return e && e.address !== '0.0.0.0' && e.address !== '::' ? e : undefined;
}

function addrBytes(e: Endpoint | undefined): number {
  if (!e) return 0;
  return e.address.includes(':') ? 24 : 12;
}

export function respond(
  config: ResponderConfig,
  data: Uint8Array,
  from: Endpoint,
  at: readonly [number, number],
  transport: 'udp' | 'tcp',
): Decision {
  if (transport === 'udp') {
    const bytes = bareBindingReply(config, data, from, at);
    if (bytes !== undefined) return { kind: 'reply', bytes, via: at, to: from, what: 'binding' };
  }
  if (!isStunMessage(data)) return { kind: 'drop', reason: 'not-stun' };
  let req;
  try {
    req = decodeStunMessage(data);
  } catch (err) {
    if (err instanceof StunDecodeError) return { kind: 'drop', reason: 'malformed' };
    throw err;
  }
  // RFC 8489 §6.3: indications and responses arriving at a server are not answered.
  if (req.cls !== StunClass.Request) return { kind: 'drop', reason: 'not-request' };
  // A request for a method we do not serve (e.g. a TURN Allocate sent to the STUN port) gets a
  // small 400 at once instead of a 39.5 s client timeout (RFC 8489 §6.3.1 rejects bad requests
  // with 400); it is no larger than the request allows (40 bytes for a 20-byte request).
  if (req.method !== Method.Binding) {
    return errorReply(
      req.transactionId,
      at,
      from,
      400,
      'Bad Request',
      undefined,
      req.type | 0x0110,
    );
  }
  const tx = req.transactionId;
  const unknown = req.unknownComprehensionRequired(KNOWN);
  if (unknown.length > 0) return errorReply(tx, at, from, 420, 'Unknown Attribute', unknown);
  let change;
  let responsePort;
  try {
    change = readChangeRequest(req);
    responsePort = readResponsePort(req);
  } catch {
    return errorReply(tx, at, from, 400, 'Bad Request');
  }
  let via: readonly [number, number] = at;
  if (change && (change.ip || change.port)) {
    const target = [change.ip ? 1 - at[0] : at[0], change.port ? 1 - at[1] : at[1]] as const;
    // CHANGE-REQUEST needs the alternate socket, and over TCP the reply must use the connection.
    if (transport === 'tcp' || !config.grid[target[0]]![target[1]]) {
      return errorReply(tx, at, from, 420, 'Unknown Attribute', [Attr.ChangeRequest]);
    }
    via = target;
  }
  // RFC 5780 §7.5 RESPONSE-PORT: answer to another port of the same IP (binding lifetime test).
  // Same IP only, and the size bound still holds, so it reflects nothing a spoofer could not
  // already aim at that IP.
  let to = from;
  if (responsePort !== undefined) {
    if (transport === 'tcp')
      return errorReply(tx, at, from, 420, 'Unknown Attribute', [Attr.ResponsePort]);
    to = { address: from.address, port: responsePort };
  }
  const origin = config.grid[via[0]]![via[1]];
  const bytes = successBytes(config, tx, from, at, origin, data.length, req.fingerprintOffset >= 0);
  return { kind: 'reply', bytes, via, to, what: via === at ? 'binding' : 'change' };
}

function otherAddress(grid: ServerGrid, at: readonly [number, number]): Endpoint | undefined {
  return grid[1 - at[0]]![1 - at[1]] ?? grid[at[0]]![1 - at[1]] ?? grid[1 - at[0]]![at[1]];
}

function successBytes(
  config: ResponderConfig,
  tx: Uint8Array,
  from: Endpoint,
  at: readonly [number, number],
  origin: Endpoint | undefined,
  requestBytes: number,
  fingerprint: boolean,
): Uint8Array {
  const headers = from.address.includes(':') ? IPV6_UDP_HEADER_BYTES : IPV4_UDP_HEADER_BYTES;
  const budget = (requestBytes + headers) * config.maxAmplification - headers;
  let size = HEADER_BYTES + addrBytes(from);
  const fits = (n: number): boolean => {
    if (n === 0 || size + n > budget) return false;
    size += n;
    return true;
  };
  // A wildcard bind does not know which address it answers from: name none rather than 0.0.0.0.
  const other = concrete(otherAddress(config.grid, at));
  const withOther = fits(addrBytes(other));
  const withOrigin = fits(addrBytes(concrete(origin)));
  const withFingerprint = fingerprint && fits(8);
  const softwareBytes = config.software ? 4 + ((Buffer.byteLength(config.software) + 3) & ~3) : 0;
  const withSoftware = fits(softwareBytes);
  const b = new StunMessageBuilder(BINDING_SUCCESS, tx, size).addXorAddress(
    Attr.XorMappedAddress,
    from,
  );
  if (withOther) b.addAddress(Attr.OtherAddress, other!);
  if (withOrigin) b.addAddress(Attr.ResponseOrigin, origin!);
  if (withSoftware) b.addString(Attr.Software, config.software!);
  if (withFingerprint) b.addFingerprint();
  return b.build();
}

function errorReply(
  tx: Uint8Array,
  at: readonly [number, number],
  to: Endpoint,
  code: number,
  reason: string,
  unknown?: number[],
  type = BINDING_ERROR,
): Decision {
  const b = new StunMessageBuilder(type, tx).addErrorCode(code, reason);
  // Bounded by the request: each unknown type appeared in it, so 2 bytes each ≤ 4 in the request.
  if (unknown) b.addUnknownAttributes(unknown);
  return { kind: 'reply', bytes: b.build(), via: at, to, what: 'error' };
}

// ─── the bare Binding request, the common case ───────────────────────────────────────────────

/** A 20-byte Binding request without attributes: what browsers and most clients send. */
function isBareBindingRequest(d: Uint8Array): boolean {
  return (
    d.length === HEADER_BYTES &&
    d[0] === 0x00 &&
    d[1] === 0x01 &&
    d[2] === 0 &&
    d[3] === 0 &&
    d[4] === 0x21 &&
    d[5] === 0x12 &&
    d[6] === 0xa4 &&
    d[7] === 0x42
  );
}

/**
 * The success response to a bare request over UDP from an IPv4 client, made from a template:
 * every attribute but XOR-MAPPED-ADDRESS depends only on where the request came in (`at`), and
 * the amplification budget only on the request's size (fixed here), so the template is built
 * once by `successBytes` itself and each answer copies it, writes the transaction id and the
 * mapped address (measured: the general path's decode and builder were ~13 % of the server's
 * CPU). Undefined for anything else (the general path answers).
 */
export function bareBindingReply(
  config: ResponderConfig,
  data: Uint8Array,
  from: Endpoint,
  at: readonly [number, number],
): Uint8Array | undefined {
  if (!isBareBindingRequest(data)) return undefined;
  const ip = ipv4Number(from.address);
  if (ip < 0) return undefined;
  const template = templateFor(config, at);
  const out = Buffer.allocUnsafe(template.length);
  out.set(template, 0);
  // The transaction id, byte by byte: a subarray view per answer was an object to collect.
  for (let i = 8; i < HEADER_BYTES; i++) out[i] = data[i]!;
  // XOR-MAPPED-ADDRESS value at 24: reserved, family, X-Port, X-Address (RFC 8489 §14.2).
  const xport = from.port ^ (MAGIC_COOKIE >>> 16);
  out[26] = (xport >>> 8) & 0xff;
  out[27] = xport & 0xff;
  const xip = (ip ^ MAGIC_COOKIE) >>> 0;
  out[28] = xip >>> 24;
  out[29] = (xip >>> 16) & 0xff;
  out[30] = (xip >>> 8) & 0xff;
  out[31] = xip & 0xff;
  return out;
}

const templates = new WeakMap<ResponderConfig, Map<number, Uint8Array>>();

function templateFor(config: ResponderConfig, at: readonly [number, number]): Uint8Array {
  let byAt = templates.get(config);
  if (byAt === undefined) {
    byAt = new Map();
    templates.set(config, byAt);
  }
  const key = at[0] * 2 + at[1];
  let t = byAt.get(key);
  if (t === undefined) {
    const origin = config.grid[at[0]]![at[1]];
    const placeholder = { address: '0.0.0.0', port: 0 };
    const zeroTx = new Uint8Array(12);
    t = Uint8Array.from(successBytes(config, zeroTx, placeholder, at, origin, HEADER_BYTES, false));
    byAt.set(key, t);
  }
  return t;
}

/** '192.0.2.1' → 0xc0000201; -1 for anything that is not a dotted-quad IPv4 address. */
function ipv4Number(address: string): number {
  let value = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < address.length; i++) {
    const c = address.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || ++dots > 3) return -1;
      value = value * 256 + part;
      part = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57 && digits < 3) {
      part = part * 10 + (c - 48);
      digits++;
      if (part > 255) return -1;
    } else {
      return -1;
    }
  }
  if (dots !== 3 || digits === 0) return -1;
  return value * 256 + part;
}
