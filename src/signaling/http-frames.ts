/**
 * What serve sends over its HTTP transports, read by a client the way it reads a WebSocket
 * frame: every payload is turned into the frame it stands for and goes through
 * `acceptServerFrame` (frame-codec.ts), so SSE and long-poll get the same schema, the same
 * tolerance of a newer serve (protocol.ts header: Compatibility; open-enum.ts) and the same typed
 * errors. A malformed event or reply is a `SignalingError` (BAD_FRAME, FRAME_TOO_LARGE), never
 * an exception of another kind and never a value that was not checked.
 *
 * | transport | serve sends (http-transports.ts, http-api.ts)    | read as                           |
 * | --------- | ------------------------------------------------ | --------------------------------- |
 * | SSE       | `event: welcome` data `{peer, server}`           | `{ kind: 'open', peer, server }`  |
 * | SSE       | `id: <n.id>` `event: deliver` data `<notification>` | frame `{type: 'deliver', n}`   |
 * | SSE       | `event: error` data `{code, message, fatal}`     | frame `{type: 'error', …}`        |
 * | SSE       | any other event name                             | `{ known: false }` (ignored)      |
 * | poll      | 200 `{notifications: [<notification>…]}`         | `deliver` frames, in order        |
 * | challenge | 200 `{server, nonce, expires}`                   | frame `{type: 'challenge', …}`    |
 * | turn      | 200 `{username, password, ttl, expires, urls}`   | frame `{type: 'turn-credentials'}` |
 * | session   | 200 `{peer, sessionToken, expires}`              | `{peer, sessionToken, expires}`   |
 * | any HTTP  | 4xx/5xx `{error: {code, message}}`               | thrown `SignalingError(code)`     |
 */
import { z } from 'zod';
import { LIMITS } from './constants.js';
import { SignalingError, SignalingErrorCode } from './errors.js';
import { acceptServerFrame, parseJson, validate, type DecodedServerFrame } from './frame-codec.js';
import { peerId } from './protocol-fields.js';
import type { ServerMessage } from './server-messages.js';
import type { SseEvent } from './sse-decoder.js';

export type SseServerEvent =
  /** The stream is open for `peer` (SSE's own welcome: the token already authenticated it). */
  { kind: 'open'; peer: string; server: string } | { kind: 'frame'; frame: DecodedServerFrame };

/** The SSE `welcome` data; tolerant like every server → client object (unknown keys stripped). */
const sseOpen = z.object({ peer: peerId, server: z.string().max(128) });

/**
 * Long-poll replies hold at most 2 × `deliveryWindow` notifications (http-transports.ts
 * PollSession buffer), each at most one frame: a longer reply is not from serve.
 */
export const MAX_POLL_NOTIFICATIONS = 2 * LIMITS.deliveryWindow;
export const MAX_POLL_REPLY_BYTES = MAX_POLL_NOTIFICATIONS * LIMITS.maxFrameBytes + 1024;
const pollReply = z.object({
  notifications: z.array(z.unknown()).max(MAX_POLL_NOTIFICATIONS),
});
const httpErrorBody = z.object({
  error: z.object({ code: z.string().max(64), message: z.string().max(1024) }),
});

/** One SSE event from `/v1/events` (sse-decoder.ts) as the frame it stands for. */
export function decodeSseEvent(
  e: SseEvent,
  maxBytes: number = LIMITS.maxFrameBytes,
): SseServerEvent {
  switch (e.event) {
    case 'welcome':
      return { kind: 'open', ...validate(sseOpen, parseJson(e.data, maxBytes)) };
    case 'deliver': {
      const frame = acceptServerFrame({ type: 'deliver', n: parseJson(e.data, maxBytes) });
      // serve writes the notification's id as the event's id (for Last-Event-ID); a different
      // one means the stream was tampered with (issue 8, finding 1: injected lines).
      if (frame.known && frame.message.type === 'deliver' && e.id !== undefined) {
        if (e.id !== frame.message.n.id)
          throw new SignalingError(SignalingErrorCode.BAD_FRAME, 'SSE id differs from its data');
      }
      return { kind: 'frame', frame };
    }
    case 'error':
      return { kind: 'frame', frame: acceptServerFrame(asErrorFrame(parseJson(e.data, maxBytes))) };
    default:
      // An event added to serve after this client (or EventSource's default `message`).
      return { kind: 'frame', frame: { known: false, type: e.event.slice(0, 64) } };
  }
}

/**
 * A `/v1/poll` reply: its notifications as `deliver` frames, in order. Any status but 200 is the
 * error serve answered, thrown with its code (`httpError`).
 */
export function decodePollReply(
  status: number,
  text: string,
  maxBytes: number = MAX_POLL_REPLY_BYTES,
): Extract<ServerMessage, { type: 'deliver' }>[] {
  if (status !== 200) throw httpError(status, text);
  const { notifications } = validate(pollReply, parseJson(text, maxBytes));
  return notifications.map((n, i) => {
    const frame = acceptServerFrame({ type: 'deliver', n });
    if (!frame.known || frame.message.type !== 'deliver')
      throw new SignalingError(SignalingErrorCode.BAD_FRAME, `notification ${i} is not one`);
    return frame.message;
  });
}

/**
 * The `SignalingError` an HTTP error reply stands for: serve's `{error: {code, message}}` with
 * its code kept as sent (error codes are open, open-enum.ts), or BAD_FRAME when the body is not
 * that shape.
 */
export function httpError(status: number, text: string): SignalingError {
  let body: z.infer<typeof httpErrorBody>;
  try {
    body = validate(httpErrorBody, parseJson(text, LIMITS.maxFrameBytes));
  } catch (err) {
    const why = err instanceof SignalingError ? err.message : String(err);
    return new SignalingError(
      SignalingErrorCode.BAD_FRAME,
      `HTTP ${status} without an error body (${why})`.slice(0, 300),
    );
  }
  return new SignalingError(body.error.code as SignalingErrorCode, body.error.message);
}

/** `POST /v1/challenge`'s reply, as the `challenge` frame a WebSocket gets. */
export function decodeHttpChallenge(
  status: number,
  text: string,
): Extract<ServerMessage, { type: 'challenge' }> {
  const m = replyAsFrame(status, text, 'challenge');
  if (m.type !== 'challenge') throw new TypeError('unreachable');
  return m;
}

/** `POST /v1/turn-credentials`'s reply, as the `turn-credentials` frame (its `ref` left out). */
export function decodeHttpTurnCredentials(
  status: number,
  text: string,
): Omit<Extract<ServerMessage, { type: 'turn-credentials' }>, 'type' | 'ref'> {
  // Over HTTP the request/response pair does what `ref` does on a WebSocket.
  const m = replyAsFrame(status, text, 'turn-credentials', { ref: 'http' });
  if (m.type !== 'turn-credentials') throw new TypeError('unreachable');
  const { type: _t, ref: _r, ...c } = m;
  return c;
}

/** The session reply is HTTP's alone (no frame says it); tolerant like the frames. */
const httpSessionReply = z.object({
  peer: peerId,
  sessionToken: z.string().min(1).max(512),
  expires: z.number().int(),
});

/** `POST /v1/session`'s reply: the token that opens `/v1/events` and `/v1/poll`. */
export function decodeHttpSession(status: number, text: string): z.infer<typeof httpSessionReply> {
  if (status !== 200) throw httpError(status, text);
  return validate(httpSessionReply, parseJson(text, LIMITS.maxFrameBytes));
}

/** A 200 JSON reply read as the frame `type` it answers with (through `acceptServerFrame`). */
function replyAsFrame(
  status: number,
  text: string,
  type: ServerMessage['type'],
  extra: Record<string, unknown> = {},
): ServerMessage {
  if (status !== 200) throw httpError(status, text);
  const json = parseJson(text, LIMITS.maxFrameBytes);
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new SignalingError(SignalingErrorCode.BAD_FRAME, 'reply is not a JSON object');
  const frame = acceptServerFrame({ ...json, ...extra, type });
  if (!frame.known) throw new TypeError(`not a frame type: ${type}`);
  return frame.message;
}

/** `{type: 'error', …data}`, the type last so the data cannot name another frame. */
function asErrorFrame(data: unknown): unknown {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return data;
  return { ...data, type: 'error' };
}
