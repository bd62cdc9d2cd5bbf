/**
 * Turning text frames into messages and back (protocol.ts header: Compatibility): `decodeFrame`
 * parses strictly with a given schema (serve, the HTTP bodies), `decodeServerFrame` parses what
 * serve sent the tolerant way. Every failure is a `SignalingError` with a stable code.
 */
import { isDeepStrictEqual } from 'node:util';
import type { z } from 'zod';
import type { ClientMessage } from './client-messages.js';
import { LIMITS, PROTOCOL_VERSION } from './constants.js';
import { SignalingError, SignalingErrorCode } from './errors.js';
import { withoutUndefined } from './open-enum.js';
import { serverMessage, type ServerMessage } from './server-messages.js';

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
 * Parse one text frame from serve the tolerant way (protocol.ts header: Compatibility): unknown
 * keys are stripped by the `serverMessage` schemas, an unknown enum value read by its class
 * (open-enum.ts), an unknown `type` returned as `{ known: false }`.
 * Throws like `decodeFrame` for what no version of serve sends: too large, not JSON, not an
 * object with a string `type`, or a known type with wrong or missing fields.
 */
export function decodeServerFrame(
  text: string,
  maxBytes: number = LIMITS.maxFrameBytes,
): DecodedServerFrame {
  return acceptServerFrame(parseJson(text, maxBytes));
}

/**
 * The one validation every frame from serve goes through, whatever carried it (WebSocket here,
 * SSE events and long-poll replies in http-frames.ts): `json` is one parsed frame. Throws
 * BAD_FRAME as `decodeServerFrame` does.
 */
export function acceptServerFrame(json: unknown): DecodedServerFrame {
  const type: unknown =
    typeof json === 'object' && json !== null && !Array.isArray(json)
      ? (json as { type?: unknown }).type
      : undefined;
  if (typeof type !== 'string') {
    throw new SignalingError(SignalingErrorCode.BAD_FRAME, 'invalid frame at type: not a string');
  }
  if (!SERVER_FRAME_TYPES.has(type)) return { known: false, type: type.slice(0, 64) };
  // An optional open enum that read as absent leaves its key out (open-enum.ts).
  return { known: true, message: withoutUndefined(validate(serverMessage, json)) };
}

/**
 * True when `json` is exactly a frame of this version: it parses as a `serverMessage` and the
 * tolerant reading changed nothing (no key stripped, no enum value read as absent or
 * `'unknown'`, no candidate left out). What serve itself must send; its fuzzers check it.
 */
export function isExactServerFrame(json: unknown): boolean {
  const r = serverMessage.safeParse(json);
  return r.success && isDeepStrictEqual(withoutUndefined(r.data), json);
}

/** JSON text of at most `maxBytes` UTF-8 bytes; FRAME_TOO_LARGE or BAD_FRAME otherwise. */
export function parseJson(text: string, maxBytes: number): unknown {
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

/** `json` through `schema`; BAD_FRAME naming the first offending field otherwise. */
export function validate<T>(schema: z.ZodType<T>, json: unknown): T {
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
