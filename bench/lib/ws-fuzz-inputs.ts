/**
 * The inputs of the WebSocket fuzzer (ws-fuzz.ts): a valid frame of every client type of
 * protocol.ts in each connection state, mutated field by field (fuzz-values.ts), at the text
 * level, or at the wire level (hand-built WebSocket frames that break RFC 6455 on purpose).
 * Seeded: the same seed and index give the same input.
 */
import { randomBytes } from 'node:crypto';
import type { Identity } from '../../src/signaling/identity.js';
import { LIMITS } from '../../src/signaling/constants.js';
import {
  chance,
  hostileValue,
  longString,
  mutateObject,
  mutateText,
  pick,
  Rng,
} from './fuzz-values.js';

export type Json = Record<string, unknown>;
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
