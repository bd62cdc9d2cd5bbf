/**
 * Load generator for bench/cluster-throughput: `pairs` sender→receiver pairs speaking the
 * signaling protocol directly (hello/challenge/auth, `notify` → `deliver` → `ack` →
 * `delivered`), so the figure is the servers' cost and not the peer library's (its per-
 * notification encryption and background punching would dominate on a loaded 2-core machine).
 * The sender of pair k is on node k mod n and its receiver on node k+1 mod n, so with 2 or 3
 * nodes every notification and its ack cross nodes through Redis. Each sender keeps `window`
 * notifications outstanding; latency is notify → `delivered` (the end-to-end ack).
 * Reports {done, elapsed, latencies} for the measured interval and `total` (all acked, warm-up
 * included, for the per-notification Redis costs).
 * argv: ports (comma-separated), pairs, window, warmupMs, durationMs, offset (pair index base).
 */
import WebSocket from 'ws';
import { WS_SUBPROTOCOL } from '../../src/signaling/constants.js';
import { generateIdentity, signChallenge, type Identity } from '../../src/signaling/identity.js';

const [
  portsArg = '',
  pairsArg = '50',
  windowArg = '8',
  warmArg = '1000',
  durArg = '5000',
  offArg = '0',
] = process.argv.slice(2);
const ports = portsArg.split(',');
const pairs = Number(pairsArg);
const window = Number(windowArg);
const offset = Number(offArg);
const BODY = 'x'.repeat(100);

let measuring = false;
let stopped = false;
let done = 0;
let total = 0;
const latencies: number[] = [];

interface Frame {
  type: string;
  nonce?: string;
  id?: string;
  n?: { id: string };
  [k: string]: unknown;
}

/** Open and authenticate; `onFrame` gets every frame after `welcome`. */
function login(
  port: string,
  id: Identity,
  onFrame: (ws: WebSocket, m: Frame) => void,
): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/ws`, WS_SUBPROTOCOL, {
      perMessageDeflate: false,
    });
    let ready = false;
    ws.once('error', reject);
    ws.on('open', () =>
      ws.send(JSON.stringify({ type: 'hello', v: 1, peer: id.peerId, publicKey: id.publicKey })),
    );
    ws.on('message', (d) => {
      const m = JSON.parse(d.toString()) as Frame;
      if (m.type === 'challenge') {
        const c = m as unknown as Parameters<typeof signChallenge>[1];
        ws.send(JSON.stringify({ type: 'auth', nonce: m.nonce, signature: signChallenge(id, c) }));
      } else if (m.type === 'welcome') {
        ready = true;
        resolve(ws);
      } else if (ready) onFrame(ws, m);
    });
  });
}

async function pair(k: number): Promise<() => void> {
  const n = ports.length;
  const a = generateIdentity();
  const b = generateIdentity();
  const rb = await login(ports[(k + 1) % n]!, b, (ws, m) => {
    if (m.type === 'deliver') ws.send(JSON.stringify({ type: 'ack', ids: [m.n!.id] }));
  });
  // The receiver lets the sender see its presence (a `delivered` is presence, presence.ts).
  rb.send(JSON.stringify({ type: 'allow', peers: [a.peerId], anyone: false }));
  const sent = new Map<string, number>();
  let seq = 0;
  const ra: { ws?: WebSocket } = {};
  const send = () => {
    if (stopped) return;
    const id = `${k}-${seq++}`;
    sent.set(id, performance.now());
    ra.ws!.send(JSON.stringify({ type: 'notify', ref: id, id, to: b.peerId, body: BODY }));
  };
  ra.ws = await login(ports[k % n]!, a, (_ws, m) => {
    if (m.type !== 'delivered') return;
    const t = sent.get(m.id!);
    if (t === undefined) return;
    sent.delete(m.id!);
    total++;
    if (measuring) {
      done++;
      latencies.push(performance.now() - t);
    }
    send();
  });
  // Wait until the receiver's allow list is in place before the first notification.
  await new Promise((r) => setTimeout(r, 200));
  for (let i = 0; i < window; i++) send();
  return () => {
    ra.ws?.terminate();
    rb.terminate();
  };
}

const closers = await Promise.all(Array.from({ length: pairs }, (_, i) => pair(offset + i)));
await new Promise((r) => setTimeout(r, Number(warmArg)));
measuring = true;
const t0 = performance.now();
await new Promise((r) => setTimeout(r, Number(durArg)));
measuring = false;
const elapsed = performance.now() - t0;
stopped = true;
process.send!({ done, elapsed, latencies, total });
await new Promise((r) => setTimeout(r, 200));
for (const c of closers) c();
process.exit(0);
