/**
 * Load generator for bench/signaling-idle: opens `count` WebSockets to the server from the given
 * loopback source addresses (spreading the 4-tuples so the ephemeral port range is not the
 * limit), completes natpush's hello/challenge/auth on each (or just connects, for the bare-ws
 * baseline), reports {connected, failed, ms}, then holds them idle until told to exit.
 * argv: mode, port, count, sources (comma-separated).
 */
import WebSocket from 'ws';
import { generateIdentity, signChallenge } from '../../src/signaling/identity.js';
import { WS_SUBPROTOCOL } from '../../src/signaling/constants.js';

const [mode = 'natpush', portArg = '0', countArg = '0', sourcesArg = '127.0.0.1'] =
  process.argv.slice(2);
const port = Number(portArg);
const count = Number(countArg);
const sources = sourcesArg.split(',');
const CONCURRENCY = 256;
const sockets: WebSocket[] = [];

/** A peer that is not admitted within this time counts as failed instead of stalling the run
 *  (a SYN lost to a full accept backlog is retried by the kernel for minutes). */
const PEER_TIMEOUT_MS = 15_000;

function one(i: number): Promise<boolean> {
  return new Promise<boolean>((resolveOnce) => {
    const timer = setTimeout(() => {
      ws.terminate();
      resolve(false);
    }, PEER_TIMEOUT_MS);
    const resolve = (ok: boolean): void => {
      clearTimeout(timer);
      resolveOnce(ok);
    };
    const localAddress = sources[i % sources.length]!;
    const id = generateIdentity();
    const url =
      mode === 'baseline'
        ? `ws://127.0.0.1:${port}/?id=${id.peerId}`
        : `ws://127.0.0.1:${port}/v1/ws`;
    const ws = new WebSocket(url, mode === 'baseline' ? [] : [WS_SUBPROTOCOL], {
      localAddress,
      perMessageDeflate: false,
      handshakeTimeout: PEER_TIMEOUT_MS,
    });
    sockets.push(ws);
    ws.on('error', () => resolve(false));
    ws.on('close', () => resolve(false));
    ws.on('open', () => {
      if (mode === 'baseline') return resolve(true);
      ws.send(JSON.stringify({ type: 'hello', v: 1, peer: id.peerId, publicKey: id.publicKey }));
    });
    ws.on('message', (d) => {
      const m = JSON.parse(d.toString()) as {
        type: string;
        server: string;
        nonce: string;
        expires: number;
      };
      if (m.type === 'challenge')
        ws.send(JSON.stringify({ type: 'auth', nonce: m.nonce, signature: signChallenge(id, m) }));
      else if (m.type === 'welcome') resolve(true);
    });
  });
}

const t0 = performance.now();
let next = 0;
let connected = 0;
let failed = 0;
async function lane(): Promise<void> {
  while (next < count) {
    if (await one(next++)) connected++;
    else failed++;
  }
}
await Promise.all(Array.from({ length: CONCURRENCY }, lane));
process.send!({ connected, failed, ms: performance.now() - t0 });
process.on('message', (m: { cmd: string }) => {
  if (m.cmd === 'exit') {
    for (const s of sockets) s.terminate();
    process.exit(0);
  }
});
