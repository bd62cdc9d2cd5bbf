/**
 * What the signaling protocol tests (forward-compat, protocol-enums, protocol-http-frames,
 * protocol-punch-end) decode with: two peer ids, a decoder's error code, a server frame decoded
 * as a known one, and the smallest welcome an older serve sends.
 */
import { SignalingError } from '../../../src/signaling/errors.js';
import { decodeServerFrame, type ServerMessage } from '../../../src/signaling/protocol.js';

export const A = 'a'.repeat(32);
export const B = 'b'.repeat(32);

/** The SignalingError code `f` throws, or undefined when it does not throw (anything else is rethrown). */
export function code(f: () => unknown): string | undefined {
  try {
    f();
  } catch (err) {
    if (err instanceof SignalingError) return err.code;
    throw err;
  }
  return undefined;
}

/** `frame` decoded by the client; a frame type it does not know fails the test. */
export function message(frame: object): ServerMessage {
  const d = decodeServerFrame(JSON.stringify(frame));
  if (!d.known) throw new Error(`unexpected unknown frame ${d.type}`);
  return d.message;
}

/** A welcome with every required field and nothing else (limits all 1). */
export const WELCOME = {
  type: 'welcome',
  v: 1,
  peer: A,
  server: 's',
  sessionToken: 't',
  time: 1,
  limits: { maxFrameBytes: 1, maxBodyBytes: 1, maxTtlSeconds: 1, ratePerSecond: 1 },
} as const;
