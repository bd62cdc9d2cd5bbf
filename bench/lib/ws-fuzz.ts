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
import WebSocket from 'ws';
import { WS_SUBPROTOCOL } from '../../src/signaling/constants.js';
import { generateIdentity, signChallenge } from '../../src/signaling/identity.js';
import { isExactServerFrame } from '../../src/signaling/protocol.js';
import { chance, inputRng, Rng } from './fuzz-values.js';
import {
  makeWsInput,
  type ConnState,
  type Fixture,
  type Json,
  type Wire,
  type WsInput,
} from './ws-fuzz-inputs.js';
import { describeWire, expectation, judge, type Answer } from './ws-fuzz-oracle.js';

export * from './ws-fuzz-inputs.js';
export type { Outcome } from './ws-fuzz-oracle.js';

// ---- the driver ------------------------------------------------------------------------------

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
