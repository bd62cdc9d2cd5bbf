/**
 * The field schemas both directions of the signaling protocol share (protocol.ts has the message
 * table): ids, topics, bodies, candidates, NAT facts, ICE and TURN credentials. The strict
 * (`z.strictObject`) shapes are what serve takes from clients; server-messages.ts builds the
 * tolerant views a client takes from serve out of the same `…Fields` records.
 */
import { z } from 'zod';
import { LIMITS } from './constants.js';
import { PEER_ID_PATTERN } from './identity.js';

export const peerId = z.string().regex(PEER_ID_PATTERN, 'peer id: 32 chars of base32');

/**
 * Notification ids, refs and rendezvous ids: a strict alphabet with no CR, LF, space or control
 * character, so no field a client picks can ever end an SSE line (`id: …`) or a log line and
 * start a forged one (issue 8, finding 1). base64url and hex ids fit, as do `app:…` labels.
 */
export const ID_PATTERN = /^[A-Za-z0-9_.:-]{1,64}$/;
export const token = z.string().regex(ID_PATTERN, 'id: 1-64 of [A-Za-z0-9_.:-]');

/**
 * What a topic must not contain: C0 controls, DEL, C1 controls (U+0080–009F; U+009B is CSI on
 * some terminals), the Unicode line/paragraph separators, and the bidi controls of UAX #9 (LRE,
 * RLE, PDF, LRO, RLO U+202A–202E; LRI, RLI, FSI, PDI U+2066–2069; LRM, RLM U+200E/200F; ALM
 * U+061C) that reorder what a terminal shows ("Trojan Source", CVE-2021-42574).
 */
export const TOPIC_FORBIDDEN =
  // eslint-disable-next-line no-control-regex
  /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

/** Half of a UTF-16 pair alone is not a character; it prints as U+FFFD or breaks the line. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** True when `s` is a topic a terminal can print as is: printable, no bidi control, ≤ 128. */
export function isSafeTopic(s: string): boolean {
  return s.length <= LIMITS.maxTopicLength && !TOPIC_FORBIDDEN.test(s) && !LONE_SURROGATE.test(s);
}
export const b64u = (max: number) =>
  z
    .string()
    .max(max)
    .regex(/^[A-Za-z0-9_-]*$/, 'base64url');

/**
 * Room kept in a frame for the envelope around a body (ids, peer ids, topic, times): a `deliver`
 * must fit the receiver's `maxFrameBytes` however much JSON escaping grows the body.
 */
export const ENVELOPE_RESERVE_BYTES = 1024 + 4 * LIMITS.maxTopicLength;
const bodyOf = (max: number) =>
  z
    .string()
    .refine((s) => Buffer.byteLength(s, 'utf8') <= max, {
      message: `body larger than ${max} bytes`,
    })
    // A body of quotes or control characters grows up to 6× in JSON (`\u0001`): it must still
    // fit one frame once it travels inside a `deliver`, or the receiver could never take it.
    .refine(
      (s) =>
        Buffer.byteLength(JSON.stringify(s), 'utf8') <=
        LIMITS.maxFrameBytes - ENVELOPE_RESERVE_BYTES,
      { message: 'body too large once JSON-escaped' },
    );
/** Body is text; its UTF-8 size is checked against `LIMITS.maxBodyBytes` (API-key HTTP posts). */
export const notificationBody = bodyOf(LIMITS.maxBodyBytes);
/** What a peer may send in `notify`: room for a sealed 16 KiB plaintext (`maxSealedBodyBytes`). */
export const peerNotificationBody = bodyOf(LIMITS.maxSealedBodyBytes);
export const topic = z
  .string()
  .max(LIMITS.maxTopicLength)
  .refine(isSafeTopic, { message: 'topic: printable, no control or bidi characters' });
export const ttlSeconds = z.number().int().min(1).max(LIMITS.maxTtlSeconds);

/** The enum values of the protocol, each once: the strict schemas and the tolerant views share them. */
export const CANDIDATE_TYPES = ['host', 'srflx', 'prflx', 'relay'] as const;
export const CANDIDATE_PROTOCOLS = ['udp', 'tcp'] as const;
export const TRANSPORTS = ['websocket', 'sse', 'poll'] as const;
export const NAT_DEPENDENCES = [
  'endpoint-independent',
  'address-dependent',
  'address-and-port-dependent',
] as const;
export const NAT_ALLOCATIONS = ['preserving', 'sequential', 'random'] as const;
/**
 * Why a punch ended without a path on the side that says so (`punch-end`): `failed` (no pair
 * answered before the punch timeout), `timeout` (the other side's frames did not come), `aborted`
 * (the caller gave up, or re-punched), `closed` (the peer is closing), `relay-lost` (our relay
 * allocation, offered in this punch, died). Informational: the receiver ends its side of the
 * punch whatever the reason.
 */
export const PUNCH_END_REASONS = ['failed', 'timeout', 'aborted', 'closed', 'relay-lost'] as const;
/**
 * Frames serve understands beyond the first v1 set, listed in `welcome.frames`: a client sends
 * such a frame only to a serve that listed it, because an older serve refuses a frame type it
 * does not know as BAD_FRAME and closes the connection (client-messages.ts is strict).
 */
export const SERVER_FRAMES = ['punch-end'] as const;
/** Bound of `welcome.frames` as a client reads it (a frame type is an enum string). */
export const MAX_SERVER_FRAMES = 32;

export const candidateFields = {
  type: z.enum(CANDIDATE_TYPES),
  protocol: z.enum(CANDIDATE_PROTOCOLS),
  address: z.string().min(2).max(64),
  port: z.number().int().min(1).max(65535),
  priority: z
    .number()
    .int()
    .min(0)
    .max(2 ** 32 - 1)
    .optional(),
};
export const candidate = z.strictObject(candidateFields);
export type Candidate = z.infer<typeof candidate>;

export const notificationFields = {
  id: token,
  /** Set by the server: the sender's peer id, or an API key's `app:…` label. */
  from: token,
  to: peerId,
  topic,
  body: peerNotificationBody,
  /** Milliseconds since the epoch when the server accepted it. */
  ts: z.number().int(),
  /** Milliseconds since the epoch after which it is dropped undelivered. */
  expires: z.number().int(),
};
export const notification = z.strictObject(notificationFields);
export type Notification = z.infer<typeof notification>;

export const transport = z.enum(TRANSPORTS);
export type Transport = z.infer<typeof transport>;

/**
 * ICE-style short-term credentials of one punch session (RFC 8445 §5.3: ufrag ≥ 4 and pwd ≥ 22
 * characters of ice-char = ALPHA / DIGIT / "+" / "/"), used in the connectivity checks'
 * USERNAME and MESSAGE-INTEGRITY (RFC 8489 §9.1).
 */
export const iceUfrag = z.string().regex(/^[A-Za-z0-9+/]{4,32}$/, 'ufrag: 4-32 ice-chars');
export const icePwd = z.string().regex(/^[A-Za-z0-9+/]{22,64}$/, 'pwd: 22-64 ice-chars');
/**
 * What a peer knows of its own NAT (issue 11, punch/hard-nat-plan.ts `NatFacts`): RFC 4787
 * mapping, the port-allocation pattern (`delta` when sequential), whether its router granted a
 * port mapping, and a fresh socket's port a preserving NAT keeps. Optional and advisory: the
 * other side picks the hard-NAT technique from both sides' facts.
 */
export const natDependence = z.enum(NAT_DEPENDENCES);
export const natFactsFields = {
  mapping: natDependence.optional(),
  filtering: natDependence.optional(),
  allocation: z.enum(NAT_ALLOCATIONS).optional(),
  delta: z.number().int().min(-64).max(64).optional(),
  portMapping: z.boolean().optional(),
  preservedPort: z.number().int().min(1).max(65535).optional(),
};
export const natFacts = z.strictObject(natFactsFields);
/**
 * base64url (RFC 4648 §5, no padding) of at most `LIMITS.maxP2pDataBytes` bytes. A length of
 * 4k+1 characters cannot be base64 at all.
 */
export const p2pData = z
  .string()
  .min(1)
  .max(Math.ceil((LIMITS.maxP2pDataBytes * 4) / 3))
  .regex(/^[A-Za-z0-9_-]+$/, 'base64url')
  .refine((s) => s.length % 4 !== 1, { message: 'not base64url' });
/**
 * Short-lived TURN credentials in the TURN REST convention (draft-uberti-behave-turn-rest-00 §2.2,
 * coturn `use-auth-secret`): `username` is `"<expiry unix s>:<peer id>"` so the relay's quotas
 * and logs are per peer; `password` is base64(HMAC-SHA1(secret, username)); `urls` are RFC 7065
 * `turn:` URIs of the relay, UDP first.
 */
export const turnCredentialsFields = {
  username: z
    .string()
    .max(128)
    .regex(/^\d{1,12}:[a-z2-7]{32}$/, 'expiry:peerId'),
  /** base64 of a 20-byte HMAC-SHA1 is 28 chars. */
  password: z
    .string()
    .max(64)
    .regex(/^[A-Za-z0-9+/]+=*$/, 'base64'),
  ttl: z.number().int().min(1).max(LIMITS.maxTurnCredentialTtlSeconds),
  /** Unix seconds after which the relay refuses them (the username's expiry). */
  expires: z.number().int(),
  urls: z
    .array(
      z
        .string()
        .max(300)
        .regex(/^turns?:[^\s]+$/, 'turn: URI'),
    )
    .min(1)
    .max(4),
};
