/**
 * What serve sends a client (protocol.ts has the message table), as the client parses it:
 * tolerant of what a newer serve may add (protocol.ts header: Compatibility). `z.object` strips
 * keys this client does not know, at every depth, and every enum field reads an unknown value
 * by its class in open-enum.ts (absent, `'unknown'`, element dropped, or kept).
 */
import { z } from 'zod';
import { LIMITS } from './constants.js';
import {
  b64u,
  candidateFields,
  icePwd,
  iceUfrag,
  natFactsFields,
  notificationFields,
  p2pData,
  peerId,
  token,
  TRANSPORTS,
  turnCredentialsFields,
  CANDIDATE_PROTOCOLS,
  CANDIDATE_TYPES,
  NAT_ALLOCATIONS,
  NAT_DEPENDENCES,
  MAX_SERVER_FRAMES,
  PUNCH_END_REASONS,
} from './protocol-fields.js';
import {
  listOfKnown,
  MAX_ENUM_CHARS,
  openEnum,
  optionalOpenEnum,
  withoutUndefined,
} from './open-enum.js';

/**
 * A candidate as `serverMessage` carries it: unknown keys stripped; one of a type or protocol
 * this client does not know is left out of the list (open-enum.ts).
 */
const serverCandidates = listOfKnown(
  z.object(candidateFields),
  { type: CANDIDATE_TYPES, protocol: CANDIDATE_PROTOCOLS },
  LIMITS.maxCandidates,
);
const serverNotification = z.object(notificationFields);
/** Advisory facts: a mapping, filtering or allocation this client does not know reads as absent. */
const serverNatFacts = z
  .object({
    ...natFactsFields,
    mapping: optionalOpenEnum(NAT_DEPENDENCES),
    filtering: optionalOpenEnum(NAT_DEPENDENCES),
    allocation: optionalOpenEnum(NAT_ALLOCATIONS),
  })
  .transform(withoutUndefined);
/** How a peer is connected, as a client reads it: `'unknown'` for a transport added later. */
export type SeenTransport = (typeof TRANSPORTS)[number] | 'unknown';

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
  /** Informational: a transport this client does not know reads as absent. */
  transport: optionalOpenEnum(TRANSPORTS),
});
export const candidatesIn = z.object({
  type: z.literal('candidates'),
  from: peerId,
  rid: token,
  candidates: serverCandidates,
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
/**
 * The other side's punch `rid` ended without a path (client-messages.ts `punchEnd`), `from` set
 * by serve. A reason this client does not know reads as `'unknown'` (informational).
 */
export const punchEndIn = z.object({
  type: z.literal('punch-end'),
  from: peerId,
  rid: token,
  ufrag: iceUfrag.optional(),
  reason: openEnum(PUNCH_END_REASONS),
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
  /** Informational (the sender's report): a transport this client does not know is `'unknown'`. */
  via: openEnum(TRANSPORTS),
});
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
  /**
   * Frames this serve takes beyond the first v1 set (protocol-fields.ts `SERVER_FRAMES`).
   * Open: a type this client does not know is kept and never matches; absent from an older serve,
   * which then gets none of them.
   */
  frames: z.array(z.string().max(MAX_ENUM_CHARS)).max(MAX_SERVER_FRAMES).optional(),
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
  punchEndIn,
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
