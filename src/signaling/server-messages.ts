/**
 * What serve sends a client (protocol.ts has the message table), as the client parses it:
 * tolerant of what a newer serve may add (protocol.ts header: Compatibility). `z.object` strips
 * keys this client does not know, at every depth.
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
  transport,
  turnCredentialsFields,
} from './protocol-fields.js';

/** The same as `serverMessage` carries it: unknown keys stripped (header: Compatibility). */
const serverCandidate = z.object(candidateFields);
const serverNotification = z.object(notificationFields);
const serverNatFacts = z.object(natFactsFields);

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
