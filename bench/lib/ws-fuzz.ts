/**
 * Structure-aware fuzzing of the signaling WebSocket (`/v1/ws`) of a live server. Seeded: the
 * same seed gives the same inputs (the server's answers may interleave differently).
 *
 * Each input is one client frame sent in one of three connection states — fresh (before
 * `hello`), `auth` (challenge issued) or `ready` (logged in) — built from a valid frame of every
 * client type of protocol.ts (plus `allow`, `p2p`, `key-request` of CONTRACTS §1), then mutated
 * field by field (fuzz-values.ts), at the text level, or at the wire level (binary, invalid
 * UTF-8, fragmented, reserved opcodes and bits, unmasked, lying lengths, oversized).
 *
 * Oracle, per input:
 * - every server frame is exactly a `serverMessage` (`isExactServerFrame`: nothing the client
 *   would strip or read as unknown); an `error` frame carries a stable
 *   `NATPUSH_ERR_[A-Z_]+` code, never INTERNAL, never a stack trace;
 * - a text frame that is not JSON or fails `clientMessage` gets a fatal BAD_FRAME (FRAME_TOO_LARGE
 *   when over `maxFrameBytes`; RATE_LIMITED is accepted too); a frame that passes the schema never
 *   gets BAD_FRAME (except hello/auth after login, which the protocol calls a bad frame);
 * - a wire-level violation ends in a WebSocket close (ws answers 1002/1007/1009) or a drop, never a
 *   hang;
 * - nothing hangs: every input settles within `settleTimeoutMs`.
 * In `ready` a `ping` marker follows the input: its `pong` proves the input was handled and the
 * connection survived (non-fatal errors, if any, arrived before it).
 */
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import { LIMITS, WS_SUBPROTOCOL } from '../../src/signaling/constants.js';
import { generateIdentity, signChallenge, type Identity } from '../../src/signaling/identity.js';
import { clientMessage, isExactServerFrame } from '../../src/signaling/protocol.js';
import {
  chance,
  hostileValue,
  inputRng,
  longString,
  mutateObject,
  mutateText,
  pick,
  Rng,
} from './fuzz-values.js';

type Json = Record<string, unknown>;
export type ConnState = 'fresh' | 'auth' | 'ready';

/** What goes on the wire for one input. */
export type Wire =
  | { kind: 'text'; text: string }
  | { kind: 'binary'; data: Buffer }
  /** Hand-built frames written to the TCP socket; `violation` = not a legal WebSocket stream. */
  | { kind: 'raw'; bytes: Buffer; violation: boolean; label: string };

export interface WsInput {
  index: number;
  state: ConnState;
  /** The frame type the input started from (for reports). */
  base: string;
  wire: Wire;
}

export interface Fixture {
  /** Registered, never online: notifications to it pile up in its mailbox. */
  sink: string;
  /** Peers the fuzz may address besides random ids (e.g. the honest receiver). */
  targets: string[];
}

const B64U = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

function randomFrom(rng: Rng, alphabet: string, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += alphabet[rng.int(alphabet.length)];
  return s;
}

function randomPeerId(rng: Rng): string {
  return randomFrom(rng, BASE32, 32);
}

function someId(rng: Rng): string {
  return randomFrom(rng, B64U, 1 + rng.int(30));
}

function target(rng: Rng, fx: Fixture): string {
  const r = rng.int(20);
  if (r === 0 && fx.targets.length > 0) return pick(rng, fx.targets);
  return r < 8 ? fx.sink : randomPeerId(rng);
}

function candidate(rng: Rng): Json {
  return {
    type: pick(rng, ['host', 'srflx', 'prflx', 'relay']),
    protocol: pick(rng, ['udp', 'tcp']),
    address: pick(rng, ['192.0.2.1', '2001:db8::1', '10.0.0.7', 'abc.local']),
    port: 1 + rng.int(65535),
    ...(chance(rng, 2) ? { priority: rng.next() } : {}),
  };
}

/** A valid frame of every type a logged-in client may send (protocol.ts, CONTRACTS §1). */
function readyFrame(rng: Rng, fx: Fixture): Json {
  switch (rng.int(12)) {
    case 0:
      return {
        type: 'notify',
        ref: someId(rng),
        id: someId(rng),
        to: target(rng, fx),
        body: chance(rng, 4) ? longString(rng, rng.int(4000)) : 'fuzz',
        ...(chance(rng, 2) ? { topic: 'fuzz/topic' } : {}),
        ...(chance(rng, 2) ? { ttl: 1 + rng.int(LIMITS.maxTtlSeconds) } : {}),
      };
    case 1:
      return { type: 'ack', ids: Array.from({ length: 1 + rng.int(8) }, () => someId(rng)) };
    case 2:
      return { type: 'watch', peers: Array.from({ length: rng.int(4) }, () => target(rng, fx)) };
    case 3:
      return {
        type: 'candidates',
        to: target(rng, fx),
        rid: someId(rng),
        candidates: Array.from({ length: rng.int(4) }, () => candidate(rng)),
        ...(chance(rng, 3) ? { ufrag: 'abcd', pwd: 'a'.repeat(22) } : {}),
      };
    case 4:
      return { type: 'punch', to: target(rng, fx), rid: someId(rng) };
    case 5:
      return { type: 'turn-credentials', ref: someId(rng) };
    case 6:
      return { type: 'ping', t: rng.next() };
    case 7:
      return { type: 'pong', t: rng.next() };
    case 8:
      return {
        type: 'allow',
        peers: Array.from({ length: rng.int(4) }, () => target(rng, fx)),
        anyone: chance(rng, 2),
      };
    case 9:
      return {
        type: 'p2p',
        to: target(rng, fx),
        data: randomBytes(rng.int(1400)).toString('base64url'),
      };
    case 10:
      return { type: 'key-request', ref: someId(rng), peer: target(rng, fx) };
    default:
      return { type: 'hello', v: 1, peer: randomPeerId(rng), publicKey: someId(rng) };
  }
}

/** One WebSocket frame, masked as a client must (RFC 6455 §5.2), with optional lies. */
export function wsFrame(o: {
  opcode: number;
  payload: Buffer;
  fin?: boolean;
  rsv?: number;
  mask?: boolean;
  /** Claimed payload length instead of the real one (a lie). */
  length?: bigint;
}): Buffer {
  const fin = o.fin ?? true;
  const mask = o.mask ?? true;
  const len = o.length ?? BigInt(o.payload.length);
  const head: number[] = [(fin ? 0x80 : 0) | ((o.rsv ?? 0) << 4) | o.opcode];
  const m = mask ? 0x80 : 0;
  let ext = Buffer.alloc(0);
  if (len < 126n) head.push(m | Number(len));
  else if (len < 65536n) {
    head.push(m | 126);
    ext = Buffer.alloc(2);
    ext.writeUInt16BE(Number(len));
  } else {
    head.push(m | 127);
    ext = Buffer.alloc(8);
    ext.writeBigUInt64BE(len);
  }
  const key = mask ? randomBytes(4) : Buffer.alloc(0);
  const body = Buffer.from(o.payload);
  if (mask) for (let i = 0; i < body.length; i++) body[i]! ^= key[i & 3]!;
  return Buffer.concat([Buffer.from(head), ext, key, body]);
}

/** Wire-level inputs: legal but unusual framing, and violations of RFC 6455. */
function wireInput(rng: Rng, text: string): Wire {
  const payload = Buffer.from(text, 'utf8');
  const cut = 1 + rng.int(Math.max(1, payload.length - 1));
  switch (rng.int(12)) {
    case 0:
      return { kind: 'binary', data: payload };
    case 1: {
      // Fragmented (legal), with a ping between the fragments (legal, §5.4).
      const bytes = Buffer.concat([
        wsFrame({ opcode: 1, fin: false, payload: payload.subarray(0, cut) }),
        ...(chance(rng, 2) ? [wsFrame({ opcode: 9, payload: Buffer.from('hi') })] : []),
        wsFrame({ opcode: 0, payload: payload.subarray(cut) }),
      ]);
      return { kind: 'raw', bytes, violation: false, label: 'fragmented' };
    }
    case 2:
      return {
        kind: 'raw',
        bytes: wsFrame({ opcode: 1, payload: Buffer.from([0x7b, 0xff, 0xfe, 0xc0, 0xaf, 0x7d]) }),
        violation: true,
        label: 'invalid-utf8',
      };
    case 3:
      return {
        kind: 'raw',
        bytes: wsFrame({ opcode: 3 + rng.int(5), payload }),
        violation: true,
        label: 'reserved-opcode',
      };
    case 4:
      return {
        kind: 'raw',
        bytes: wsFrame({ opcode: 1, payload, rsv: 1 + rng.int(7) }),
        violation: true,
        label: 'rsv-bits',
      };
    case 5:
      return {
        kind: 'raw',
        bytes: wsFrame({ opcode: 1, payload, mask: false }),
        violation: true,
        label: 'unmasked',
      };
    case 6:
      return {
        kind: 'raw',
        bytes: wsFrame({ opcode: 9, payload: Buffer.alloc(126 + rng.int(200)) }),
        violation: true,
        label: 'big-control-frame',
      };
    case 7:
      return {
        kind: 'raw',
        bytes: wsFrame({ opcode: 0, payload }),
        violation: true,
        label: 'orphan-continuation',
      };
    case 8:
      return {
        kind: 'raw',
        bytes: Buffer.concat([
          wsFrame({ opcode: 1, fin: false, payload: payload.subarray(0, cut) }),
          wsFrame({ opcode: 1, payload: payload.subarray(cut) }),
        ]),
        violation: true,
        label: 'interleaved-text',
      };
    case 9:
      return {
        kind: 'raw',
        bytes: wsFrame({
          opcode: 1,
          payload: payload.subarray(0, 8),
          length: pick(rng, [2n ** 63n, 2n ** 53n, 2n ** 32n, 5_000_000n]),
        }),
        violation: true,
        label: 'lying-length',
      };
    case 10: {
      // Over maxFrameBytes (error frame) or, rarely, over ws's hard cap (1009 close).
      const huge = chance(rng, 20) ? LIMITS.wsHardMaxPayload + 10 : LIMITS.maxFrameBytes + 1;
      const t = JSON.stringify({ type: 'ping', t: 1, pad: 'x'.repeat(huge) });
      return { kind: 'text', text: t };
    }
    default: {
      // A close frame: legal codes (1000, 4000) end the connection politely; 999, 1005, 1006
      // must never be sent (RFC 6455 §7.4.1) and are a protocol error.
      const code = pick(rng, [1000, 4000, 999, 1005, 1006]);
      const p = Buffer.alloc(2);
      p.writeUInt16BE(code);
      return {
        kind: 'raw',
        bytes: wsFrame({ opcode: 8, payload: p }),
        violation: code !== 1000 && code !== 4000,
        label: `close-${code}`,
      };
    }
  }
}

/** Frames to mutate in the fresh / auth states (the handshake's own frames, and early others). */
function handshakeFrame(rng: Rng, state: ConnState, id: Identity, nonce: string): Json {
  if (state === 'auth' && rng.int(4) !== 0)
    return { type: 'auth', nonce, signature: randomBytes(64).toString('base64url') };
  if (state === 'fresh' && rng.int(3) !== 0)
    return {
      type: 'hello',
      v: chance(rng, 10) ? rng.int(4) : 1,
      peer: id.peerId,
      publicKey: id.publicKey,
      ...(chance(rng, 5) ? { token: someId(rng) } : {}),
    };
  return readyFrame(rng, { sink: id.peerId, targets: [] });
}

/** Generate input `index` for a connection in `state`. */
export function makeWsInput(
  rng: Rng,
  index: number,
  state: ConnState,
  fx: Fixture,
  id: Identity,
  nonce: string,
): WsInput {
  const frame = state === 'ready' ? readyFrame(rng, fx) : handshakeFrame(rng, state, id, nonce);
  const base = String(frame.type);
  const r = rng.int(20);
  let text: string;
  if (r < 5) text = JSON.stringify(frame);
  else if (r < 15) text = JSON.stringify(mutateObject(rng, frame));
  else if (r < 18)
    text = mutateText(rng, JSON.stringify(chance(rng, 2) ? mutateObject(rng, frame) : frame));
  else return { index, state, base, wire: wireInput(rng, JSON.stringify(frame)) };
  if (chance(rng, 200)) text = JSON.stringify(hostileValue(rng));
  return { index, state, base, wire: { kind: 'text', text } };
}

// ---- the driver ------------------------------------------------------------------------------

export interface Outcome {
  /** e.g. `ok`, `error:NATPUSH_ERR_PEER_OFFLINE`, `fatal:NATPUSH_ERR_BAD_FRAME`, `close:1002`. */
  label: string;
  /** Set when the oracle is violated: what went wrong. */
  failure?: string;
}

const CODE = /^NATPUSH_ERR_[A-Z0-9_]+$/;
const STACK = /\n\s+at |\bat [\w$.<>]+ \(|node:internal|\/src\/|\.js:\d+/;

/** What the server said and did in answer to one input. */
interface Answer {
  frames: Json[];
  close?: { code: number };
  timedOut: boolean;
}

/** One client connection, read frame by frame. */
class FuzzSocket {
  frames: Json[] = [];
  badFrames: string[] = [];
  closed: { code: number } | undefined;
  #wake: (() => void) | undefined;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (d, isBinary) => {
      const text = Buffer.isBuffer(d) ? d.toString('utf8') : String(d);
      let m: Json;
      try {
        m = JSON.parse(text) as Json;
      } catch {
        this.badFrames.push(`${isBinary ? 'binary' : 'text'} non-JSON frame: ${text.slice(0, 80)}`);
        return this.#poke();
      }
      // Exactly: the client's tolerant reading (open-enum.ts) must have nothing to forgive.
      if (!isExactServerFrame(m))
        this.badFrames.push(`frame is not exactly a serverMessage: ${text.slice(0, 200)}`);
      this.frames.push(m);
      this.#poke();
    });
    ws.on('close', (code) => {
      this.closed = { code };
      this.#poke();
    });
    ws.on('error', () => {});
  }

  static open(url: string, o: WebSocket.ClientOptions = {}): Promise<FuzzSocket> {
    const ws = new WebSocket(url.replace(/^http/, 'ws') + '/v1/ws', WS_SUBPROTOCOL, {
      maxPayload: 4 * 1024 * 1024,
      ...o,
    });
    const s = new FuzzSocket(ws);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(s));
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) =>
        reject(new Error(`upgrade refused: ${res.statusCode}`)),
      );
    });
  }

  #poke(): void {
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }

  /** Wait until `done(frames)` or a close, at most `ms`. */
  async until(done: (frames: Json[]) => boolean, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!done(this.frames) && !this.closed) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.#wake = () => {
          clearTimeout(t);
          r();
        };
      });
    }
    return true;
  }

  send(w: Wire): void {
    if (w.kind === 'text') this.ws.send(w.text);
    else if (w.kind === 'binary') this.ws.send(w.data, { binary: true });
    else (this.ws as unknown as { _socket: { write(b: Buffer): void } })._socket.write(w.bytes);
  }

  terminate(): void {
    this.ws.terminate();
  }
}

export interface WsFuzzOptions {
  url: string;
  count: number;
  seed: number;
  fixture: Fixture;
  /** Concurrent connections (lanes); default 16. */
  lanes?: number;
  settleTimeoutMs?: number;
  /** Stop early (e.g. the server died). */
  shouldStop?: () => boolean;
}

export interface WsFuzzResult {
  inputs: number;
  outcomes: Record<string, number>;
  failures: { index: number; state: ConnState; base: string; wire: string; failure: string }[];
  logins: number;
  seconds: number;
}

/** Text a failure report can show: the input, bounded. */
function describeWire(w: Wire): string {
  if (w.kind === 'text')
    return `text ${JSON.stringify(w.text.slice(0, 300))} (${w.text.length} chars)`;
  if (w.kind === 'binary') return `binary ${w.data.subarray(0, 100).toString('hex')}`;
  return `raw ${w.label} ${w.bytes.subarray(0, 60).toString('hex')}`;
}

type Expectation = 'invalid' | 'too-large' | 'valid' | 'any';
const expectations = new WeakMap<Wire, Map<ConnState, Expectation>>();

/** What the oracle expects of a frame in `state` (memoized: the schema check is not free). */
function expectation(w: Wire, state: ConnState): Expectation {
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

function judge(input: WsInput, a: Answer): Outcome {
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

/** A lane: one connection at a time, in the state its next input needs. */
class Lane {
  sock: FuzzSocket | undefined;
  state: ConnState = 'fresh';
  nonce = '';
  logins = 0;
  readonly id = generateIdentity();

  constructor(
    readonly url: string,
    readonly timeoutMs: number,
  ) {}

  async ensure(state: ConnState): Promise<FuzzSocket> {
    if (this.sock && !this.sock.closed && this.state === state) return this.sock;
    this.sock?.terminate();
    const s = await FuzzSocket.open(this.url);
    this.sock = s;
    this.state = 'fresh';
    if (state === 'fresh') return s;
    s.send({
      kind: 'text',
      text: JSON.stringify({
        type: 'hello',
        v: 1,
        peer: this.id.peerId,
        publicKey: this.id.publicKey,
      }),
    });
    await s.until((f) => f.some((m) => m.type === 'challenge'), this.timeoutMs);
    const c = s.frames.find((m) => m.type === 'challenge') as
      { nonce: string; server: string; expires: number } | undefined;
    if (!c)
      throw new Error(`no challenge: ${JSON.stringify(s.frames)} ${JSON.stringify(s.closed)}`);
    s.frames.length = 0;
    this.nonce = c.nonce;
    this.state = 'auth';
    if (state === 'auth') return s;
    s.send({
      kind: 'text',
      text: JSON.stringify({ type: 'auth', nonce: c.nonce, signature: signChallenge(this.id, c) }),
    });
    await s.until((f) => f.some((m) => m.type === 'welcome'), this.timeoutMs);
    if (!s.frames.some((m) => m.type === 'welcome'))
      throw new Error(`no welcome: ${JSON.stringify(s.frames)} ${JSON.stringify(s.closed)}`);
    s.frames.length = 0;
    this.state = 'ready';
    this.logins++;
    return s;
  }

  /** Send one input and collect the answer. */
  async run(input: WsInput): Promise<Answer> {
    const s = this.sock!;
    s.frames.length = 0;
    s.send(input.wire);
    let done: (f: Json[]) => boolean;
    if (input.state === 'ready') {
      const marker = 0.5 + input.index; // not an integer: no fuzz ping can collide with it
      s.send({ kind: 'text', text: JSON.stringify({ type: 'ping', t: marker }) });
      done = (f) => f.some((m) => m.type === 'pong' && m.t === marker);
    } else {
      done = (f) => f.length > 0;
    }
    const ok = await s.until(done, this.timeoutMs);
    // A fatal error is followed by the close: wait for it, so the next input starts clean.
    if (s.frames.some((m) => m.type === 'error' && m.fatal === true))
      await s.until(() => false, this.timeoutMs);
    const answer: Answer = {
      frames: [...s.frames],
      ...(s.closed ? { close: s.closed } : {}),
      timedOut: !ok,
    };
    if (!s.closed && input.state !== 'ready') {
      // Pre-auth inputs that were answered and left the socket open moved its state on.
      const t = answer.frames.map((m) => m.type);
      if (t.includes('welcome')) this.state = 'ready';
      else if (!t.includes('challenge')) this.state = 'fresh';
      else {
        const c = answer.frames.find((m) => m.type === 'challenge') as { nonce: string };
        this.nonce = c.nonce;
        this.state = 'auth';
      }
    }
    if (!ok) s.terminate();
    return answer;
  }
}

/** One input in ten exercises the `auth` state (the challenge answer and what else comes then). */
function chooseState(rng: Rng): 'auth' | 'other' {
  return chance(rng, 10) ? 'auth' : 'other';
}

/**
 * Where to send a ready-state input. The schema check runs before the state machine (ws-connection
 * `#onData`), so a frame the oracle calls invalid exercises the same code on a fresh connection
 * as on a logged-in one; most go to fresh connections (a login per input is what limits the
 * rate), some to logged-in ones so the state does not matter is checked too. Valid frames need a
 * logged-in connection (before it they only get NOT_AUTHENTICATED), except a hello.
 */
function stateFor(rng: Rng, input: WsInput): ConnState {
  const e = expectation(input.wire, 'fresh');
  if (e === 'valid') return input.base === 'hello' || chance(rng, 10) ? 'fresh' : 'ready';
  return chance(rng, 5) ? 'ready' : 'fresh';
}

/** Drive `count` seeded inputs through `lanes` connections. */
export async function fuzzWebSocket(o: WsFuzzOptions): Promise<WsFuzzResult> {
  const t0 = performance.now();
  const timeoutMs = o.settleTimeoutMs ?? 15_000;
  const lanes = Array.from({ length: o.lanes ?? 16 }, () => new Lane(o.url, timeoutMs));
  const result: WsFuzzResult = { inputs: 0, outcomes: {}, failures: [], logins: 0, seconds: 0 };
  let next = 0;
  const work = async (lane: Lane): Promise<void> => {
    while (next < o.count && !o.shouldStop?.()) {
      const index = next++;
      const rng = inputRng(o.seed, index);
      const state = chooseState(rng);
      let input: WsInput;
      try {
        if (state === 'auth') {
          await lane.ensure('auth');
          input = makeWsInput(rng, index, 'auth', o.fixture, lane.id, lane.nonce);
        } else {
          input = makeWsInput(rng, index, 'ready', o.fixture, lane.id, '');
          input.state = stateFor(rng, input);
          await lane.ensure(input.state);
        }
      } catch (err) {
        result.inputs++;
        result.outcomes['connect-failed'] = (result.outcomes['connect-failed'] ?? 0) + 1;
        if (result.failures.length < 50)
          result.failures.push({
            index,
            state: state === 'auth' ? 'auth' : 'ready',
            base: '-',
            wire: '-',
            failure: String(err),
          });
        lane.sock?.terminate();
        lane.sock = undefined;
        continue;
      }
      const answer = await lane.run(input);
      const out = judge(input, answer);
      const bad = lane.sock?.badFrames.splice(0) ?? [];
      const failure = out.failure ?? (bad.length > 0 ? bad.join('; ') : undefined);
      result.inputs++;
      const key = `${input.state} ${out.label}`;
      result.outcomes[key] = (result.outcomes[key] ?? 0) + 1;
      if (failure && result.failures.length < 50)
        result.failures.push({
          index,
          state: input.state,
          base: input.base,
          wire: describeWire(input.wire),
          failure,
        });
    }
  };
  try {
    await Promise.all(lanes.map((l) => work(l)));
  } finally {
    for (const l of lanes) {
      l.sock?.terminate();
      result.logins += l.logins;
    }
  }
  result.seconds = (performance.now() - t0) / 1000;
  return result;
}
