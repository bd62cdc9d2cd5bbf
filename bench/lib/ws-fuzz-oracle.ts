/**
 * The oracle of the WebSocket fuzzer (ws-fuzz.ts header): what the server must answer to one
 * input, judged from the frames and the close it sent.
 */
import { LIMITS } from '../../src/signaling/constants.js';
import { clientMessage } from '../../src/signaling/protocol.js';
import type { ConnState, Json, Wire, WsInput } from './ws-fuzz-inputs.js';

export interface Outcome {
  /** e.g. `ok`, `error:NATPUSH_ERR_PEER_OFFLINE`, `fatal:NATPUSH_ERR_BAD_FRAME`, `close:1002`. */
  label: string;
  /** Set when the oracle is violated: what went wrong. */
  failure?: string;
}

export const CODE = /^NATPUSH_ERR_[A-Z0-9_]+$/;
export const STACK = /\n\s+at |\bat [\w$.<>]+ \(|node:internal|\/src\/|\.js:\d+/;

/** What the server said and did in answer to one input. */
export interface Answer {
  frames: Json[];
  close?: { code: number };
  timedOut: boolean;
}

/** Text a failure report can show: the input, bounded. */
export function describeWire(w: Wire): string {
  if (w.kind === 'text')
    return `text ${JSON.stringify(w.text.slice(0, 300))} (${w.text.length} chars)`;
  if (w.kind === 'binary') return `binary ${w.data.subarray(0, 100).toString('hex')}`;
  return `raw ${w.label} ${w.bytes.subarray(0, 60).toString('hex')}`;
}

type Expectation = 'invalid' | 'too-large' | 'valid' | 'any';
const expectations = new WeakMap<Wire, Map<ConnState, Expectation>>();

/** What the oracle expects of a frame in `state` (memoized: the schema check is not free). */
export function expectation(w: Wire, state: ConnState): Expectation {
  let m = expectations.get(w);
  if (!m) expectations.set(w, (m = new Map()));
  let e = m.get(state);
  if (!e) m.set(state, (e = computeExpectation(w, state)));
  return e;
}

/** Invalid (and why) or valid, by the same schema the server uses. */
function computeExpectation(w: Wire, state: ConnState): Expectation {
  if (w.kind === 'binary') return 'invalid';
  if (w.kind === 'raw') return 'any';
  // What the server receives is the UTF-8 encoding (lone surrogates become U+FFFD).
  const text = Buffer.from(w.text, 'utf8');
  if (text.length > LIMITS.maxFrameBytes) return 'too-large';
  let json: unknown;
  try {
    json = JSON.parse(text.toString('utf8'));
  } catch {
    return 'invalid';
  }
  const r = clientMessage.safeParse(json);
  if (!r.success) return 'invalid';
  if (state === 'ready' && (r.data.type === 'hello' || r.data.type === 'auth')) return 'invalid';
  return 'valid';
}

export function judge(input: WsInput, a: Answer): Outcome {
  const errs = a.frames.filter((f) => f.type === 'error');
  for (const e of errs) {
    const code = String(e.code);
    const msg = String(e.message);
    if (!CODE.test(code)) return { label: 'bad-code', failure: `error code ${code} is not stable` };
    if (code === 'NATPUSH_ERR_INTERNAL')
      return { label: 'internal', failure: `INTERNAL error: ${msg}` };
    if (STACK.test(msg)) return { label: 'stack', failure: `stack trace in message: ${msg}` };
  }
  const fatal = errs.find((e) => e.fatal === true);
  const label = a.timedOut
    ? 'timeout'
    : fatal
      ? `fatal:${String(fatal.code)}`
      : errs.length > 0
        ? `error:${String(errs[0]!.code)}`
        : a.close
          ? `close:${a.close.code}`
          : 'ok';
  if (a.timedOut) return { label, failure: 'no answer (server hung or dropped the input)' };
  const expect = expectation(input.wire, input.state);
  const code = fatal ? String(fatal.code) : undefined;
  if (
    expect === 'invalid' &&
    code !== 'NATPUSH_ERR_BAD_FRAME' &&
    code !== 'NATPUSH_ERR_RATE_LIMITED'
  )
    return { label, failure: `an invalid frame got ${label}, expected fatal BAD_FRAME` };
  // Over ws's hard cap (maxPayload) ws closes 1009 while the client is still sending; the
  // unread rest of the frame makes the kernel reset the connection, so 1006 (no close frame
  // seen) is the same answer from the client's side.
  const overCap =
    input.wire.kind === 'text' && Buffer.byteLength(input.wire.text) > LIMITS.wsHardMaxPayload;
  if (
    expect === 'too-large' &&
    code !== 'NATPUSH_ERR_FRAME_TOO_LARGE' &&
    !(overCap && !fatal && (a.close?.code === 1009 || a.close?.code === 1006))
  )
    return { label, failure: `an oversized frame got ${label}, expected FRAME_TOO_LARGE` };
  if (expect === 'valid' && code === 'NATPUSH_ERR_BAD_FRAME')
    return { label, failure: `a schema-valid frame got BAD_FRAME: ${String(fatal!.message)}` };
  if (input.wire.kind === 'raw' && input.wire.label.startsWith('close-') && !input.wire.violation) {
    if (a.close?.code !== Number(input.wire.label.slice(6)))
      return { label, failure: `a close ${input.wire.label} was answered ${label}, not echoed` };
  } else if (input.wire.kind === 'raw' && !input.wire.violation && a.close && !fatal)
    return { label, failure: `a legal ${input.wire.label} stream was closed ${a.close.code}` };
  return { label };
}
