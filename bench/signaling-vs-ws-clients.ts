/**
 * Load generator for bench/signaling-vs-ws.ts, one process of several. The SAME code drives a
 * natpush signaling node and the bare `ws` relay: `pairs` sender→receiver pairs, each sender
 * keeping `window` notifications outstanding; a notification counts when its end-to-end ack is
 * back at the sender (natpush: `delivered`; bare ws: the receiver's ack frame routed back).
 * Latency is send → that ack.
 *
 * Built so that it is not the ceiling: raw RFC 6455 over `net` instead of the `ws` library —
 * frames written from templates (the client mask key is all zeros, which RFC 6455 §5.3 allows:
 * the payload goes out as is), every frame for a socket in one event-loop turn in one write,
 * and the only parsing of the server's frames is a prefix check and an `indexOf` for the id.
 * What it costs depends on how the server writes: ~6 µs per notification (both generators
 * together) against serve, which coalesces a turn's frames into one writev, and ~17 µs against
 * the bare relay, whose one write per frame makes every frame a read of its own here too
 * (measured 11:11 UTC, load 5: serve 25 µs, bare relay 21–27 µs of server CPU per notification).
 * The driver prints both CPU figures per step, so a run shows which one ran out.
 *
 * What differs between the two modes is only the wire text (the login aside):
 *   natpush   → {"type":"notify","ref":I,"id":I,"to":B,"body":…}  ← accepted, delivered {id: I}
 *   receiver  ← {"type":"deliver","n":{"id":I,…}}                  → {"type":"ack","ids":[I]}
 *   bare ws   → {"to":B,"id":I,"from":A,"body":…}                   ← {"to":A,"id":I,"ack":true}
 *   receiver  ← the same frame                                      → {"to":A,"id":I,"ack":true}
 *
 * IPC (driver → generator): {cmd:'window', w} raises every sender's window to w;
 * {cmd:'measure'} starts counting; {cmd:'report'} answers {done, elapsed, latencies, errors} for
 * the interval since 'measure'; {cmd:'exit'}.
 * argv: mode ('natpush' | 'baseline'), port, pairs, offset (pair index base).
 */
import { createConnection, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { WS_PATH, WS_SUBPROTOCOL } from '../src/signaling/constants.js';
import { generateIdentity, signChallenge } from '../src/signaling/identity.js';

const [mode = 'natpush', port = '0', pairsArg = '25', offArg = '0'] = process.argv.slice(2);
const pairs = Number(pairsArg);
const offset = Number(offArg);
const BODY = 'x'.repeat(100);

let measuring = false;
let t0 = 0;
let done = 0;
let errors = 0;
let latencies: number[] = [];

/** One client WebSocket: text frames out (batched per turn), text frames in (callback). */
class RawWs {
  #out: string[] = [];
  #flushQueued = false;
  #pending: Buffer | undefined;
  onText: (text: string) => void = () => {};

  constructor(readonly socket: Socket) {
    socket.setNoDelay(true);
  }

  static open(path: string, protocol?: string): Promise<RawWs> {
    return new Promise((resolve, reject) => {
      const socket = createConnection({ host: '127.0.0.1', port: Number(port) });
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.write(
          `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
            `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n` +
            (protocol ? `Sec-WebSocket-Protocol: ${protocol}\r\n` : '') +
            '\r\n',
        );
      });
      let head = Buffer.alloc(0);
      const onHead = (d: Buffer) => {
        head = Buffer.concat([head, d]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        socket.off('data', onHead);
        if (!head.subarray(0, 12).toString('latin1').startsWith('HTTP/1.1 101'))
          return reject(new Error(`upgrade refused: ${head.subarray(0, 40).toString('latin1')}`));
        const ws = new RawWs(socket);
        socket.on('data', (c: Buffer) => ws.#onData(c));
        resolve(ws);
        if (end + 4 < head.length) ws.#onData(head.subarray(end + 4));
      };
      socket.on('data', onHead);
    });
  }

  send(text: string): void {
    this.#out.push(text);
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    process.nextTick(() => this.#flush());
  }

  /** Every frame of this turn in one buffer and one write (masked with the zero key). */
  #flush(): void {
    this.#flushQueued = false;
    const texts = this.#out;
    this.#out = [];
    let size = 0;
    for (const t of texts) size += t.length + (t.length < 126 ? 6 : 8);
    const buf = Buffer.allocUnsafe(size);
    let o = 0;
    for (const t of texts) {
      buf[o++] = 0x81; // FIN, text
      if (t.length < 126) buf[o++] = 0x80 | t.length;
      else {
        buf[o++] = 0x80 | 126;
        buf.writeUInt16BE(t.length, o);
        o += 2;
      }
      buf.writeUInt32BE(0, o); // mask key 0: payload unchanged
      o += 4;
      o += buf.write(t, o, 'latin1'); // the templates are ASCII
    }
    this.socket.write(buf);
  }

  #onData(chunk: Buffer): void {
    const b = this.#pending ? Buffer.concat([this.#pending, chunk]) : chunk;
    this.#pending = undefined;
    let o = 0;
    for (;;) {
      if (b.length - o < 2) break;
      const op = b[o]! & 0x0f;
      let len = b[o + 1]! & 0x7f;
      let h = 2;
      if (len === 126) {
        if (b.length - o < 4) break;
        len = b.readUInt16BE(o + 2);
        h = 4;
      } else if (len === 127) {
        if (b.length - o < 10) break;
        len = Number(b.readBigUInt64BE(o + 2));
        h = 10;
      }
      if (b.length - o < h + len) break;
      const start = o + h;
      o = start + len;
      if (op === 1) this.onText(b.toString('latin1', start, o));
      else if (op === 9) this.#pong(b.subarray(start, o));
    }
    if (o < b.length) this.#pending = Buffer.from(b.subarray(o));
  }

  #pong(payload: Buffer): void {
    const f = Buffer.alloc(6 + payload.length);
    f[0] = 0x8a;
    f[1] = 0x80 | payload.length;
    payload.copy(f, 6);
    this.socket.write(f);
  }
}

/** The id in a frame: the value of its first `"id":"…"` key (both modes put it first). */
function idOf(text: string): string | undefined {
  const i = text.indexOf('"id":"');
  if (i < 0) return undefined;
  return text.slice(i + 6, text.indexOf('"', i + 6));
}

interface Lane {
  /** Frames the sender writes and the receiver's reply to a frame it gets. */
  notify(id: string): string;
  reply(text: string): string | undefined;
  /** The id a frame to the sender acks, or undefined. */
  ackedId(text: string): string | undefined;
  sender: RawWs;
  receiver: RawWs;
}

async function natpushLogin(): Promise<{ ws: RawWs; peer: string }> {
  const id = generateIdentity();
  const ws = await RawWs.open(WS_PATH, WS_SUBPROTOCOL);
  await new Promise<void>((resolve, reject) => {
    ws.onText = (text) => {
      const m = JSON.parse(text) as { type: string; nonce?: string; message?: string };
      if (m.type === 'challenge') {
        const c = m as unknown as Parameters<typeof signChallenge>[1];
        ws.send(JSON.stringify({ type: 'auth', nonce: m.nonce, signature: signChallenge(id, c) }));
      } else if (m.type === 'welcome') resolve();
      else if (m.type === 'error') reject(new Error(m.message));
    };
    ws.send(JSON.stringify({ type: 'hello', v: 1, peer: id.peerId, publicKey: id.publicKey }));
  });
  return { ws, peer: id.peerId };
}

async function natpushLane(): Promise<Lane> {
  const b = await natpushLogin();
  const a = await natpushLogin();
  // The receiver lets the sender see its presence (a `delivered` is presence, presence.ts).
  b.ws.send(JSON.stringify({ type: 'allow', peers: [a.peer], anyone: false }));
  const tail = `","to":"${b.peer}","body":"${BODY}"}`;
  return {
    sender: a.ws,
    receiver: b.ws,
    notify: (id) => `{"type":"notify","ref":"${id}","id":"${id}${tail}`,
    reply: (text) =>
      text.startsWith('{"type":"deliver"') ? `{"type":"ack","ids":["${idOf(text)}"]}` : undefined,
    ackedId: (text) => (text.startsWith('{"type":"delivered"') ? idOf(text) : undefined),
  };
}

async function baselineLane(): Promise<Lane> {
  const aid = randomBytes(8).toString('hex');
  const bid = randomBytes(8).toString('hex');
  const a = await RawWs.open(`/?id=${aid}`);
  const b = await RawWs.open(`/?id=${bid}`);
  const tail = `","from":"${aid}","body":"${BODY}"}`;
  return {
    sender: a,
    receiver: b,
    notify: (id) => `{"to":"${bid}","id":"${id}${tail}`,
    reply: (text) => `{"to":"${aid}","id":"${idOf(text)}","ack":true}`,
    ackedId: (text) => (text.endsWith('"ack":true}') ? idOf(text) : undefined),
  };
}

/** A pair's sender: `window` outstanding, one more sent for each one acked. */
function drive(k: number, lane: Lane): (w: number) => void {
  const sent = new Map<string, number>();
  let seq = 0;
  let window = 0;
  const send = () => {
    const id = `${k}-${seq++}`;
    sent.set(id, performance.now());
    lane.sender.send(lane.notify(id));
  };
  lane.receiver.onText = (text) => {
    const r = lane.reply(text);
    if (r) lane.receiver.send(r);
    else if (text.includes('"error"')) errors++;
  };
  lane.sender.onText = (text) => {
    const id = lane.ackedId(text);
    if (id === undefined) {
      if (text.startsWith('{"type":"error"')) errors++;
      return;
    }
    const t = sent.get(id);
    if (t === undefined) return;
    sent.delete(id);
    if (measuring) {
      done++;
      latencies.push(performance.now() - t);
    }
    if (sent.size < window) send();
  };
  return (w) => {
    window = w;
    while (sent.size < window) send();
  };
}

const lanes: Lane[] = [];
for (let i = 0; i < pairs; i++)
  lanes.push(await (mode === 'baseline' ? baselineLane() : natpushLane()));
// Let the receivers' allow lists land before the first notification.
await new Promise((r) => setTimeout(r, 200));
const windows = lanes.map((l, i) => drive(offset + i, l));
process.send!({ ready: pairs });

process.on('message', (m: { cmd: string; w?: number }) => {
  if (m.cmd === 'window') {
    for (const set of windows) set(m.w!);
    process.send!({ ok: true });
  } else if (m.cmd === 'measure') {
    measuring = true;
    done = 0;
    latencies = [];
    t0 = performance.now();
    process.send!({ ok: true });
  } else if (m.cmd === 'report') {
    measuring = false;
    process.send!({ done, elapsed: performance.now() - t0, latencies, errors });
  } else if (m.cmd === 'exit') {
    for (const l of lanes) {
      l.sender.socket.destroy();
      l.receiver.socket.destroy();
    }
    process.exit(0);
  }
});
