/**
 * Load generator for bench/signaling-throughput: `pairs` sender→receiver pairs, each sender
 * keeping `window` notifications outstanding. natpush mode: `Peer.notify()` resolving on the
 * recipient's end-to-end ack (`delivered`), receivers reading `notifications()`. Baseline mode:
 * bare `ws` frames routed by the baseline server and an ack frame routed back.
 * Reports {done, latencies} for the measured interval.
 * argv: mode, port, pairs, window, warmupMs, durationMs.
 */
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import { Peer } from '../../src/peer/peer.js';
import { generateIdentity } from '../../src/signaling/identity.js';

const [
  mode = 'natpush',
  portArg = '0',
  pairsArg = '50',
  windowArg = '16',
  warmArg = '1000',
  durArg = '10000',
] = process.argv.slice(2);
const url = `http://127.0.0.1:${portArg}`;
const pairs = Number(pairsArg);
const window = Number(windowArg);
const warmupMs = Number(warmArg);
const durationMs = Number(durArg);
const BODY = 'x'.repeat(100);

let measuring = false;
let stopped = false;
let done = 0;
/** Acked since the start, warm-up included (for the server's CPU per notification). */
let total = 0;
/** natpush mode: acked notifications by the path `notify()` reported (all must be server-routed). */
const paths: Record<string, number> = {};
const latencies: number[] = [];
function record(ms: number): void {
  total++;
  if (!measuring) return;
  done++;
  latencies.push(ms);
}

async function natpushPair(): Promise<() => Promise<void>> {
  // direct: false keeps every notification on the server rungs (no UDP socket, no punch): the
  // bench measures serve, and a direct path would bypass it. `paths` proves it per run.
  const a = await Peer.connect({ server: url, identity: generateIdentity(), direct: false });
  const b = await Peer.connect({ server: url, identity: generateIdentity(), direct: false });
  void (async () => {
    for await (const _ of b.notifications()) {
      /* consuming acks it */
    }
  })();
  const lane = async () => {
    while (!stopped) {
      const t = performance.now();
      const r = await a.notify(b.id, BODY, { deliveryTimeoutMs: 60_000 });
      paths[r.path] = (paths[r.path] ?? 0) + 1;
      record(performance.now() - t);
    }
  };
  for (let i = 0; i < window; i++) void lane().catch(() => {});
  return async () => {
    await a.close();
    await b.close();
  };
}

function open(id: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${portArg}/?id=${id}`, { perMessageDeflate: false });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

async function baselinePair(): Promise<() => Promise<void>> {
  const aid = randomBytes(8).toString('hex');
  const bid = randomBytes(8).toString('hex');
  const a = await open(aid);
  const b = await open(bid);
  b.on('message', (d) => {
    const m = JSON.parse(d.toString()) as { id: number };
    b.send(JSON.stringify({ to: aid, id: m.id, ack: true }));
  });
  const sent = new Map<number, number>();
  let seq = 0;
  const send = () => {
    if (stopped) return;
    const id = seq++;
    sent.set(id, performance.now());
    a.send(JSON.stringify({ to: bid, id, from: aid, body: BODY }));
  };
  a.on('message', (d) => {
    const m = JSON.parse(d.toString()) as { id: number };
    const t = sent.get(m.id);
    sent.delete(m.id);
    if (t !== undefined) record(performance.now() - t);
    send();
  });
  for (let i = 0; i < window; i++) send();
  return async () => {
    a.terminate();
    b.terminate();
  };
}

const closers = await Promise.all(
  Array.from({ length: pairs }, () => (mode === 'baseline' ? baselinePair() : natpushPair())),
);
await new Promise((r) => setTimeout(r, warmupMs));
measuring = true;
const t0 = performance.now();
await new Promise((r) => setTimeout(r, durationMs));
measuring = false;
const elapsed = performance.now() - t0;
stopped = true;
process.send!({ done, elapsed, latencies, total, paths });
await new Promise((r) => setTimeout(r, 200));
await Promise.all(closers.map((c) => c().catch(() => {})));
process.exit(0);
