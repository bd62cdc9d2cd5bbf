/**
 * What a client sends serve (protocol.ts has the message table): the WebSocket frames and the
 * HTTP API bodies. All `z.strictObject`: serve is strict about every field (protocol.ts header:
 * Compatibility), because this is where hostile input arrives.
 */
import { z } from 'zod';
import { LIMITS } from './constants.js';
import {
  b64u,
  candidate,
  icePwd,
  iceUfrag,
  natFacts,
  notificationBody,
  p2pData,
  peerId,
  peerNotificationBody,
  PUNCH_END_REASONS,
  token,
  topic,
  ttlSeconds,
} from './protocol-fields.js';

export const hello = z.strictObject({
  type: z.literal('hello'),
  v: z.number().int(),
  peer: peerId,
  publicKey: b64u(64),
  token: z.string().max(512).optional(),
  /**
   * The peer's region label (`[A-Za-z0-9_.:-]{1,64}`, as `serve --region`): its TURN
   * credentials name a relay of that region when the fleet has one (src/cluster/relay-choice.ts).
   * Sent only when the peer has one: a serve older than this field refuses it (strict frames).
   */
  region: token.optional(),
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
/**
 * Our side of punch `rid` with `to` ended without a path: serve forwards it (same gate as
 * `punch`: only if `to` allows us) so that `to` ends its side of THAT punch now rather than at
 * its timeout, and its next connect starts a fresh punch (punch/punch-end.ts). `ufrag` is ours
 * in that punch: the receiver checks it against the credentials it got, so a stale frame for a
 * reused rid ends nothing. Sent only to a serve whose `welcome.frames` lists `punch-end`.
 */
export const punchEnd = z.strictObject({
  type: z.literal('punch-end'),
  to: peerId,
  rid: token,
  ufrag: iceUfrag.optional(),
  reason: z.enum(PUNCH_END_REASONS),
});
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
  /** A region for this request; default the `hello`'s (see `hello.region`). */
  region: token.optional(),
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
  punchEnd,
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
