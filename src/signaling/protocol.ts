/**
 * The natpush signaling protocol, version 1: JSON text frames over a WebSocket
 * (`GET /v1/ws`, subprotocol `natpush.v1`). Every frame is one JSON object with a `type`; every
 * frame in both directions is validated by the zod schema below before anything acts on it.
 * Frames larger than `LIMITS.maxFrameBytes`, frames that are not JSON, or that do not match a
 * schema, get an `error` frame with a stable code and the connection is closed.
 *
 * ## Compatibility: strict in what serve takes, tolerant in what a client takes
 *
 * Version 1 grows by optional fields and new frame types only (a change an old peer cannot ignore
 * needs `PROTOCOL_VERSION` 2). So that a client keeps working against a newer serve (this one
 * added `welcome.turn` and `nat` facts after clients were out), the two directions are parsed
 * differently, as long-lived protocols do (RFC 9413 discusses the trade; we keep the server end
 * strict because that is where hostile input arrives):
 *
 * - client → server (`clientMessage`, the HTTP bodies): `z.strictObject` everywhere. A field serve
 *   does not know is BAD_FRAME and closes the connection: it is either an attack or a client newer
 *   than serve, and a newer client must not rely on an older serve acting on a field it ignores.
 * - server → client (`serverMessage`, nested objects included): `z.object`, which STRIPS keys it
 *   does not know (never passes them through to the application), and `decodeServerFrame`
 *   returns `{ known: false }` for a frame `type` it does not know, which the client logs at
 *   debug level and ignores. Still fatal for the connection (the client drops it and reconnects):
 *   a frame that is not JSON, not an object, has no string `type`, is too large, or is a known
 *   type whose known fields are missing or wrong (a new enum value in a known field included).
 *
 * ## Messages
 *
 * | type         | dir  | fields                                            | meaning                                                         |
 * | ------------ | ---- | ------------------------------------------------- | --------------------------------------------------------------- |
 * | `hello`      | C→S  | v, peer, publicKey, token?                        | open: protocol version, claimed peer id, Ed25519 key, admission |
 * | `challenge`  | S→C  | server, nonce, expires                            | sign this (identity.ts `challengeText`), once, before `expires` |
 * | `auth`       | C→S  | nonce, signature                                  | Ed25519 signature over the challenge text                       |
 * | `welcome`    | S→C  | v, peer, server, sessionToken, time, limits, turn? | admitted; token also opens SSE / long-poll; `turn`: as below   |
 * | `allow`      | C→S  | peers[], anyone                                   | my contact list: who sees my presence and may rendezvous with me |
 * | `watch`      | C→S  | peers[]                                           | subscribe to presence of these peers (replaces the list)        |
 * | `presence`   | S→C  | peer, online, transport?                          | a watched peer that allows you came online / went offline       |
 * | `candidates` | C→S  | to, rid, candidates[], ufrag?, pwd?, nat?         | rendezvous: my transport candidates for session `rid`           |
 * | `candidates` | S→C  | from, rid, candidates[], ufrag?, pwd?, answered?, nat? | … forwarded to the other peer (if it allows the sender)         |
 * | `offer`      | C→S  | candidates[], ufrag, pwd, nat?                    | my warm candidates + one-time credentials: answer a punch now   |
 * | `punch`      | C→S  | to, rid                                           | ask for a coordinated punch with `to`                           |
 * | `punch-start`| S→C  | from, rid, at, rtt                                | both sides: start probing at server time `at` (ms since epoch)  |
 * | `p2p`        | C→S  | to, data                                          | best-effort datagram (base64url ≤ 1400 B) for `to`, not stored  |
 * | `p2p`        | S→C  | from, data                                        | … forwarded (if `to` allows the sender)                         |
 * | `key-request`| C→S  | ref, peer                                         | the Ed25519 key `peer` registered with                          |
 * | `key`        | S→C  | ref, peer, publicKey                              | … check `peerIdFromPublicKey(publicKey) === peer`               |
 * | `notify`     | C→S  | ref, id, to, topic?, body, ttl?                   | send a notification; `id` is chosen by the sender (idempotent)  |
 * | `accepted`   | S→C  | ref, id, to, online, duplicate                    | durably stored (mailbox): the server-side ack                   |
 * | `deliver`    | S→C  | n: {id, from, to, topic, body, ts, expires}       | a notification for you (may repeat: dedupe by id)               |
 * | `ack`        | C→S  | ids[]                                             | end-to-end ack: these were handed to the application            |
 * | `delivered`  | S→C  | id, to, via                                       | to the sender: the recipient acked `id`, it came over `via`     |
 * | `turn-credentials` | C→S | ref                                          | ask for short-lived TURN credentials for `serve`'s relay        |
 * | `turn-credentials` | S→C | ref, username, password, ttl, expires, urls[] | TURN REST credentials (`expiry:peerId`), valid `ttl` seconds   |
 * | `ping`/`pong`| both | t                                                 | application-level RTT (WebSocket pings keep the path alive)     |
 * | `error`      | S→C  | code, message, ref?, fatal                        | typed error; `fatal` ⇒ the server closes the socket next        |
 *
 * Ids, refs and rids are `[A-Za-z0-9_.:-]{1,64}`; topics are printable (no C0/C1/DEL, no bidi
 * controls), at most 128. A peer's `notify` body may be `LIMITS.maxSealedBodyBytes` (24 KiB);
 * an API-key HTTP body `LIMITS.maxBodyBytes` (16 KiB).
 *
 * Privacy (issue 8, finding 5): presence of P reaches watcher W only if P's `allow` names W (or
 * says `anyone`); otherwise W sees `online:false`, exactly as for a peer that never registered,
 * and `accepted.online` / `delivered` are withheld the same way. Rendezvous frames (`candidates`,
 * `punch`, `p2p`) from X reach P only if P is on a WebSocket and allows X; otherwise they are
 * dropped without an answer (an error would tell X that P exists and is online) and counted as
 * `natpush_dropped_frames_total{reason="rendezvous_refused"}`. Acks may only name notifications
 * in flight to the acking peer; others are dropped and counted (`reason="unknown_ack"`).
 *
 * SSE (`GET /v1/events`) and long-poll (`GET /v1/poll`) carry the same `deliver` payloads and
 * take acks at `POST /v1/acks`; they authenticate with the `sessionToken` of a `welcome`, or one
 * obtained over HTTP by the same challenge: `POST /v1/challenge` then `POST /v1/session`. Such
 * peers get TURN credentials at `POST /v1/turn-credentials` (session token; the reply's fields
 * without `type` and `ref`).
 *
 * ## Sequence
 *
 * ```mermaid
 * sequenceDiagram
 *   participant A as peer A
 *   participant S as natpush serve
 *   participant B as peer B
 *   A->>S: hello {v:1, peer, publicKey, token?}
 *   S->>A: challenge {server, nonce, expires}
 *   A->>S: auth {nonce, signature}
 *   S->>A: welcome {sessionToken, limits}
 *   A->>S: allow {peers:[B], anyone:false}
 *   B->>S: hello / auth (same)
 *   S->>B: welcome
 *   B->>S: allow {peers:[A], anyone:false}
 *   A->>S: watch {peers:[B]}
 *   S->>A: presence {peer:B, online:true}
 *   A->>S: key-request {ref, peer:B}
 *   S->>A: key {ref, peer:B, publicKey}
 *   Note over A: check peerIdFromPublicKey(publicKey) == B
 *   A->>S: notify {ref, id, to:B, body}
 *   Note over S: fsync to mailbox (SQLite WAL)
 *   S->>A: accepted {ref, id, online:true}
 *   S->>B: deliver {n}
 *   B->>S: ack {ids:[id]}
 *   Note over S: delete from mailbox
 *   S->>A: delivered {id, via:websocket}
 *   A->>S: candidates {to:B, rid, candidates}
 *   S->>B: candidates {from:A, rid, candidates}
 *   B->>S: candidates {to:A, rid, candidates}
 *   S->>A: candidates {from:B, rid, candidates}
 *   A->>S: punch {to:B, rid}
 *   S->>A: punch-start {from:B, rid, at}
 *   S->>B: punch-start {from:A, rid, at}
 *   A->>S: p2p {to:B, data}
 *   S->>B: p2p {from:A, data}
 *   Note over S: no UDP path yet: session datagrams ride the server, best effort
 * ```
 *
 * Delivery is at-least-once on the wire (a `deliver` not acked within `TIMING.retryAfterMs`,
 * or still unacked when the peer reconnects, is sent again) and exactly-once to the application
 * because the receiver drops ids it has already seen (src/peer/dedupe.ts). The server sends a
 * peer's notifications in mailbox order, which is arrival order, so each sender's notifications
 * arrive in the order they were accepted.
 */
import { z } from 'zod';
import { LIMITS, PROTOCOL_VERSION } from './constants.js';
import { PEER_ID_PATTERN } from './identity.js';
import { SignalingError, SignalingErrorCode } from './errors.js';

const peerId = z.string().regex(PEER_ID_PATTERN, 'peer id: 32 chars of base32');

/**
 * Notification ids, refs and rendezvous ids: a strict alphabet with no CR, LF, space or control
 * character, so no field a client picks can ever end an SSE line (`id: …`) or a log line and
 * start a forged one (issue 8, finding 1). base64url and hex ids fit, as do `app:…` labels.
 */
export const ID_PATTERN = /^[A-Za-z0-9_.:-]{1,64}$/;
const token = z.string().regex(ID_PATTERN, 'id: 1-64 of [A-Za-z0-9_.:-]');

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
const b64u = (max: number) =>
  z
    .string()
    .max(max)
    .regex(/^[A-Za-z0-9_-]*$/, 'base64url');

/**
 * Room kept in a frame for the envelope around a body (ids, peer ids, topic, times): a `deliver`
 * must fit the receiver's `maxFrameBytes` however much JSON escaping grows the body.
 */
const ENVELOPE_RESERVE_BYTES = 1024 + 4 * LIMITS.maxTopicLength;
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

const candidateFields = {
  type: z.enum(['host', 'srflx', 'prflx', 'relay']),
  protocol: z.enum(['udp', 'tcp']),
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
/** The same as `serverMessage` carries it: unknown keys stripped (header: Compatibility). */
const serverCandidate = z.object(candidateFields);
export type Candidate = z.infer<typeof candidate>;

const notificationFields = {
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
const serverNotification = z.object(notificationFields);
export type Notification = z.infer<typeof notification>;

export const transport = z.enum(['websocket', 'sse', 'poll']);
export type Transport = z.infer<typeof transport>;

// ---- client → server -------------------------------------------------------------------------

export const hello = z.strictObject({
  type: z.literal('hello'),
  v: z.number().int(),
  peer: peerId,
  publicKey: b64u(64),
  token: z.string().max(512).optional(),
});
export const auth = z.strictObject({
  type: z.literal('auth'),
  nonce: b64u(64),
  signature: b64u(128),
});
export const watch = z.strictObject({
  type: z.literal('watch'),
  peers: z.array(peerId).max(LIMITS.maxWatchedPeers),
});
/**
 * ICE-style short-term credentials of one punch session (RFC 8445 §5.3: ufrag ≥ 4 and pwd ≥ 22
 * characters of ice-char = ALPHA / DIGIT / "+" / "/"), used in the connectivity checks'
 * USERNAME and MESSAGE-INTEGRITY (RFC 8489 §9.1).
 */
const iceUfrag = z.string().regex(/^[A-Za-z0-9+/]{4,32}$/, 'ufrag: 4-32 ice-chars');
const icePwd = z.string().regex(/^[A-Za-z0-9+/]{22,64}$/, 'pwd: 22-64 ice-chars');
/**
 * What a peer knows of its own NAT (issue 11, punch/hard-nat-plan.ts `NatFacts`): RFC 4787
 * mapping, the port-allocation pattern (`delta` when sequential), whether its router granted a
 * port mapping, and a fresh socket's port a preserving NAT keeps. Optional and advisory: the
 * other side picks the hard-NAT technique from both sides' facts.
 */
const natDependence = z.enum([
  'endpoint-independent',
  'address-dependent',
  'address-and-port-dependent',
]);
const natFactsFields = {
  mapping: natDependence.optional(),
  filtering: natDependence.optional(),
  allocation: z.enum(['preserving', 'sequential', 'random']).optional(),
  delta: z.number().int().min(-64).max(64).optional(),
  portMapping: z.boolean().optional(),
  preservedPort: z.number().int().min(1).max(65535).optional(),
};
export const natFacts = z.strictObject(natFactsFields);
const serverNatFacts = z.object(natFactsFields);

export const candidatesOut = z.strictObject({
  type: z.literal('candidates'),
  to: peerId,
  rid: token,
  candidates: z.array(candidate).max(LIMITS.maxCandidates),
  ufrag: iceUfrag.optional(),
  pwd: icePwd.optional(),
  nat: natFacts.optional(),
});
/**
 * A peer's registered punch offer (punch-offers.ts): serve keeps the newest one per connection
 * and hands it out once, as the answer to the first `candidates` toward this peer that it
 * forwards; the forwarded frame then carries `answered: ufrag` and serve schedules the start.
 */
export const offer = z.strictObject({
  type: z.literal('offer'),
  candidates: z.array(candidate).max(LIMITS.maxCandidates),
  ufrag: iceUfrag,
  pwd: icePwd,
  nat: natFacts.optional(),
});
export const punch = z.strictObject({ type: z.literal('punch'), to: peerId, rid: token });
export const notify = z.strictObject({
  type: z.literal('notify'),
  ref: token,
  id: token,
  to: peerId,
  topic: topic.optional(),
  body: peerNotificationBody,
  ttl: ttlSeconds.optional(),
});
/**
 * The peer's contact list: who may see its presence and reach it with rendezvous frames
 * (`candidates`, `punch`, `p2p`). Replaces the previous list; kept while the peer is connected
 * (a client sends it again after every `welcome`). `anyone: true` allows every peer.
 */
export const allow = z.strictObject({
  type: z.literal('allow'),
  peers: z.array(peerId).max(LIMITS.maxAllowedPeers),
  anyone: z.boolean(),
});
/**
 * base64url (RFC 4648 §5, no padding) of at most `LIMITS.maxP2pDataBytes` bytes. A length of
 * 4k+1 characters cannot be base64 at all.
 */
const p2pData = z
  .string()
  .min(1)
  .max(Math.ceil((LIMITS.maxP2pDataBytes * 4) / 3))
  .regex(/^[A-Za-z0-9_-]+$/, 'base64url')
  .refine((s) => s.length % 4 !== 1, { message: 'not base64url' });
/** Best-effort datagram to another peer through the server (never stored, may be dropped). */
export const p2pOut = z.strictObject({ type: z.literal('p2p'), to: peerId, data: p2pData });
/** Ask for the Ed25519 public key a peer registered with (to start an end-to-end session). */
export const keyRequest = z.strictObject({
  type: z.literal('key-request'),
  ref: token,
  peer: peerId,
});
export const ack = z.strictObject({
  type: z.literal('ack'),
  ids: z.array(token).min(1).max(LIMITS.maxAckIds),
});
/**
 * Ask for TURN credentials (only after `welcome`: before it the answer is the fatal
 * NOT_AUTHENTICATED). A server without a relay answers a non-fatal RELAY_UNAVAILABLE error with
 * the same `ref`.
 */
export const turnCredentialsRequest = z.strictObject({
  type: z.literal('turn-credentials'),
  ref: token,
});
export const ping = z.strictObject({ type: z.literal('ping'), t: z.number() });
export const pong = z.strictObject({ type: z.literal('pong'), t: z.number() });

export const clientMessage = z.discriminatedUnion('type', [
  hello,
  auth,
  watch,
  candidatesOut,
  offer,
  punch,
  notify,
  ack,
  turnCredentialsRequest,
  ping,
  pong,
  allow,
  p2pOut,
  keyRequest,
]);
export type ClientMessage = z.infer<typeof clientMessage>;

// ---- server → client -------------------------------------------------------------------------

export const challenge = z.object({
  type: z.literal('challenge'),
  server: z.string().max(128),
  nonce: b64u(64),
  expires: z.number().int(),
});
export const presence = z.object({
  type: z.literal('presence'),
  peer: peerId,
  online: z.boolean(),
  transport: transport.optional(),
});
export const candidatesIn = z.object({
  type: z.literal('candidates'),
  from: peerId,
  rid: token,
  candidates: z.array(serverCandidate).max(LIMITS.maxCandidates),
  ufrag: iceUfrag.optional(),
  pwd: icePwd.optional(),
  /** serve answered this punch for you with your `offer` of this ufrag (and sends punch-start). */
  answered: iceUfrag.optional(),
  nat: serverNatFacts.optional(),
});
export const p2pIn = z.object({ type: z.literal('p2p'), from: peerId, data: p2pData });
/**
 * A registered peer's raw Ed25519 public key (base64url, 32 bytes). The receiver MUST check
 * `peerIdFromPublicKey(publicKey) === peer`: the id is the key's hash, so the server cannot lie.
 */
export const key = z.object({
  type: z.literal('key'),
  ref: token,
  peer: peerId,
  publicKey: b64u(64),
});
export const punchStart = z.object({
  type: z.literal('punch-start'),
  from: peerId,
  rid: token,
  at: z.number().int(),
  rtt: z.number().min(0),
});
export const accepted = z.object({
  type: z.literal('accepted'),
  ref: token,
  id: token,
  to: peerId,
  online: z.boolean(),
  duplicate: z.boolean(),
});
export const deliver = z.object({ type: z.literal('deliver'), n: serverNotification });
export const delivered = z.object({
  type: z.literal('delivered'),
  id: token,
  to: peerId,
  via: transport,
});
/**
 * Short-lived TURN credentials in the TURN REST convention (draft-uberti-behave-turn-rest-00 §2.2,
 * coturn `use-auth-secret`): `username` is `"<expiry unix s>:<peer id>"` so the relay's quotas
 * and logs are per peer; `password` is base64(HMAC-SHA1(secret, username)); `urls` are RFC 7065
 * `turn:` URIs of the relay, UDP first.
 */
const turnCredentialsFields = {
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
export const turnCredentialsReply = z.object({
  type: z.literal('turn-credentials'),
  ref: token,
  ...turnCredentialsFields,
});
export const welcome = z.object({
  type: z.literal('welcome'),
  v: z.number().int(),
  peer: peerId,
  server: z.string().max(128),
  sessionToken: z.string().max(512),
  time: z.number().int(),
  limits: z.object({
    maxFrameBytes: z.number().int(),
    maxBodyBytes: z.number().int(),
    maxTtlSeconds: z.number().int(),
    ratePerSecond: z.number(),
  }),
  /**
   * The relay's credentials and URLs, as a `turn-credentials` reply gives them, when serve runs a
   * relay: the relay answers STUN Binding on the same port (RFC 8656 §4), so a peer starts its
   * server-reflexive gather (and its relay allocation) the moment it is welcomed instead of a
   * `turn-credentials` round trip later (2·D on the way to the first direct path right after
   * login, issue 9). Renewals still ask with `turn-credentials`.
   */
  turn: z.object(turnCredentialsFields).optional(),
});
export type TurnCredentialsReply = z.infer<typeof turnCredentialsReply>;
export const errorFrame = z.object({
  type: z.literal('error'),
  code: z.string().max(64),
  message: z.string().max(1024),
  ref: token.optional(),
  fatal: z.boolean(),
});

/** `ping`/`pong` as serve sends them: the client→server pair is strict, these strip. */
const serverPing = z.object({ type: z.literal('ping'), t: z.number() });
const serverPong = z.object({ type: z.literal('pong'), t: z.number() });

export const serverMessage = z.discriminatedUnion('type', [
  challenge,
  welcome,
  presence,
  candidatesIn,
  punchStart,
  accepted,
  deliver,
  delivered,
  turnCredentialsReply,
  serverPing,
  serverPong,
  errorFrame,
  p2pIn,
  key,
]);
export type ServerMessage = z.infer<typeof serverMessage>;
export type ErrorFrame = z.infer<typeof errorFrame>;

/**
 * Parse one text frame with `schema`. Throws `SignalingError` with FRAME_TOO_LARGE, or BAD_FRAME
 * for non-JSON / schema mismatch (the message names the first offending field, bounded).
 */
export function decodeFrame<T>(
  schema: z.ZodType<T>,
  text: string,
  maxBytes: number = LIMITS.maxFrameBytes,
): T {
  return validate(schema, parseJson(text, maxBytes));
}

/** The frame types a client knows; anything else from serve is newer than this client. */
const SERVER_FRAME_TYPES: ReadonlySet<string> = new Set(
  serverMessage.options.map((o) => o.shape.type.value),
);

/** A server frame as the client sees it: one it knows, or one of a type added after it. */
export type DecodedServerFrame =
  | { known: true; message: ServerMessage }
  | {
      known: false;
      /** The unknown `type`, cut to 64 characters: it only goes to a debug log. */
      type: string;
    };

/**
 * Parse one text frame from serve the tolerant way (header: Compatibility): unknown keys are
 * stripped by the `serverMessage` schemas, an unknown `type` is returned as `{ known: false }`.
 * Throws like `decodeFrame` for what no version of serve sends: too large, not JSON, not an
 * object with a string `type`, or a known type with wrong or missing fields.
 */
export function decodeServerFrame(
  text: string,
  maxBytes: number = LIMITS.maxFrameBytes,
): DecodedServerFrame {
  const json = parseJson(text, maxBytes);
  const type: unknown =
    typeof json === 'object' && json !== null && !Array.isArray(json)
      ? (json as { type?: unknown }).type
      : undefined;
  if (typeof type !== 'string') {
    throw new SignalingError(SignalingErrorCode.BAD_FRAME, 'invalid frame at type: not a string');
  }
  if (!SERVER_FRAME_TYPES.has(type)) return { known: false, type: type.slice(0, 64) };
  return { known: true, message: validate(serverMessage, json) };
}

function parseJson(text: string, maxBytes: number): unknown {
  // String length is a lower bound of UTF-8 size; check it before paying for byteLength.
  if (text.length > maxBytes || Buffer.byteLength(text, 'utf8') > maxBytes) {
    throw new SignalingError(
      SignalingErrorCode.FRAME_TOO_LARGE,
      `frame larger than ${maxBytes} bytes`,
    );
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new SignalingError(SignalingErrorCode.BAD_FRAME, 'frame is not JSON');
  }
}

function validate<T>(schema: z.ZodType<T>, json: unknown): T {
  const r = schema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0];
    const where = issue?.path.join('.') || '(frame)';
    throw new SignalingError(
      SignalingErrorCode.BAD_FRAME,
      `invalid frame at ${where}: ${issue?.message ?? 'schema mismatch'}`.slice(0, 300),
    );
  }
  return r.data;
}

export function encodeFrame(m: ClientMessage | ServerMessage): string {
  return JSON.stringify(m);
}

export function isSupportedVersion(v: number): boolean {
  return v === PROTOCOL_VERSION;
}

// ---- HTTP API bodies ---------------------------------------------------------------------------

/** `POST /v1/peers/{id}/notifications` (API key). `id` makes retries idempotent. */
export const httpNotify = z.strictObject({
  id: token.optional(),
  topic: topic.optional(),
  body: notificationBody,
  ttl: ttlSeconds.optional(),
});
/** `POST /v1/challenge`: start the identity challenge over HTTP (for SSE / long-poll clients). */
export const httpChallenge = z.strictObject({
  peer: peerId,
  publicKey: b64u(64),
  token: z.string().max(512).optional(),
});
/** `POST /v1/session`: answer it; the reply carries a session token. */
export const httpSession = z.strictObject({
  peer: peerId,
  publicKey: b64u(64),
  nonce: b64u(64),
  signature: b64u(128),
});
/** `POST /v1/acks` (session token). */
export const httpAcks = z.strictObject({ ids: z.array(token).min(1).max(LIMITS.maxAckIds) });
