/**
 * Floods of hostile but well-formed frames from many registered peers (fresh keys each), for the
 * memory tier: each peer logs in, sends its share of frames of one kind in one go (within the
 * per-connection burst, so the rate limiter is not what bounds memory), then a `ping` marker, and
 * waits for its `pong` — which proves the server handled every frame before it.
 */
import { randomBytes } from 'node:crypto';
import type WebSocket from 'ws';
import { loginWs } from '../../bench/lib/fuzz-login.js';
import { clientMessage } from '../../src/signaling/protocol.js';

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

/** A random, syntactically valid peer id nobody holds. */
export function strangerId(): string {
  const b = randomBytes(32);
  let s = '';
  for (let i = 0; i < 32; i++) s += BASE32[b[i]! & 31];
  return s;
}

const freshId = (n = 40) => randomBytes(n).toString('base64url').slice(0, n);

export interface FloodKind {
  name: string;
  /** Frame `i` of one peer's share. */
  frame(i: number): Record<string, unknown>;
}

/** The hostile kinds of issue 8's memory test; those the server's schema lacks are left out. */
export function floodKinds(victim: string): FloodKind[] {
  const kinds: FloodKind[] = [
    // Finding 2: acks of ids never in flight to this peer (32 fresh ids a frame).
    {
      name: 'ack-unknown',
      frame: () => ({ type: 'ack', ids: Array.from({ length: 32 }, () => freshId()) }),
    },
    {
      name: 'watch',
      frame: () => ({ type: 'watch', peers: Array.from({ length: 4 }, strangerId) }),
    },
    {
      name: 'candidates-offline',
      frame: () => ({
        type: 'candidates',
        to: strangerId(),
        rid: freshId(16),
        candidates: [
          { type: 'host', protocol: 'udp', address: '192.0.2.1', port: 40000 },
          { type: 'srflx', protocol: 'udp', address: '198.51.100.7', port: 50000 },
        ],
      }),
    },
    { name: 'punch-offline', frame: () => ({ type: 'punch', to: strangerId(), rid: freshId(16) }) },
    {
      name: 'p2p-offline',
      frame: () => ({
        type: 'p2p',
        to: strangerId(),
        data: randomBytes(200).toString('base64url'),
      }),
    },
    {
      name: 'notify-victim',
      frame: () => ({
        type: 'notify',
        ref: freshId(12),
        id: freshId(22),
        to: victim,
        body: 'flood',
      }),
    },
    { name: 'turn-credentials', frame: () => ({ type: 'turn-credentials', ref: freshId(12) }) },
    {
      name: 'key-request',
      frame: () => ({ type: 'key-request', ref: freshId(12), peer: strangerId() }),
    },
    { name: 'ping', frame: (i) => ({ type: 'ping', t: i }) },
  ];
  return kinds.filter((k) => clientMessage.safeParse(k.frame(0)).success);
}

export interface FloodResult {
  kind: string;
  peers: number;
  /** Frames answered by the marker pong (handled by the server). */
  handled: number;
  /** Peers the server disconnected before the marker (with the reason it gave). */
  cut: string[];
  seconds: number;
}

/** One peer: log in, send `count` frames and the marker, wait for the marker's pong. */
async function onePeer(url: string, kind: FloodKind, count: number): Promise<string | undefined> {
  let ws: WebSocket;
  try {
    ws = await loginWs(url);
  } catch (err) {
    // A server too busy to finish a handshake in time refuses the attacker too: counted as cut.
    return `login failed: ${String(err).slice(0, 160)}`;
  }
  try {
    const marker = 0.25;
    const done = new Promise<string | undefined>((resolve) => {
      let lastError = '';
      ws.on('message', (d) => {
        const text = String(d);
        if (text.startsWith('{"type":"error"') && text.includes('"fatal":true')) lastError = text;
        if (text === `{"type":"pong","t":${marker}}`) resolve(undefined);
      });
      ws.once('close', (code) => resolve(`closed ${code} ${lastError.slice(0, 160)}`));
    });
    for (let i = 0; i < count; i++) ws.send(JSON.stringify(kind.frame(i)));
    ws.send(JSON.stringify({ type: 'ping', t: marker }));
    return await done;
  } finally {
    ws.terminate();
  }
}

/** `total` frames of `kind` spread over `peers` fresh peers, `parallel` at a time. */
export async function flood(
  url: string,
  kind: FloodKind,
  o: { total: number; peers: number; parallel?: number },
): Promise<FloodResult> {
  const t0 = performance.now();
  const per = Math.ceil(o.total / o.peers);
  const r: FloodResult = { kind: kind.name, peers: o.peers, handled: 0, cut: [], seconds: 0 };
  let next = 0;
  const worker = async () => {
    while (next < o.peers) {
      next++;
      const cut = await onePeer(url, kind, per);
      if (cut === undefined) r.handled += per;
      else if (r.cut.length < 10) r.cut.push(cut);
    }
  };
  await Promise.all(Array.from({ length: o.parallel ?? 20 }, worker));
  r.seconds = (performance.now() - t0) / 1000;
  return r;
}

export interface SlowReaders {
  /** Frames sent so far (to connections still open). */
  sent(): number;
  stop(): void;
}

/**
 * `peers` logged-in peers that never read what the server sends (the socket is paused, so the
 * kernel buffers fill and then the server's own), each sending `perSecond` frames of `kind` —
 * below the per-connection rate limit, so nothing but the server's write-side bound can stop
 * the replies piling up in its memory.
 */
export async function slowReaders(
  url: string,
  kind: FloodKind,
  o: {
    peers: number;
    perSecond: number;
    /**
     * Frames sent but not yet handled by the server (from its metrics). Sending pauses while it
     * is above `maxBacklog`, so a backlog that the server reads later in one go does not trip
     * the per-connection rate limit: the attack must stay a slow reader, not become a flood.
     */
    backlog?: () => number;
    maxBacklog?: number;
  },
): Promise<SlowReaders> {
  const sockets: WebSocket[] = [];
  for (let i = 0; i < o.peers; i++) sockets.push(await loginWs(url));
  let sent = 0;
  // A paused socket also never sees the server's close: count cuts from the server's metrics.
  for (const ws of sockets) (ws as unknown as { _socket: { pause(): void } })._socket.pause();
  const perTick = Math.max(1, Math.round(o.perSecond / 10));
  const timer = setInterval(() => {
    if (o.backlog && o.backlog() > (o.maxBacklog ?? 500 * o.peers)) return;
    for (const ws of sockets) {
      if (ws.readyState !== ws.OPEN) continue;
      for (let k = 0; k < perTick; k++) ws.send(JSON.stringify(kind.frame(sent++)));
    }
  }, 100);
  return {
    sent: () => sent,
    stop: () => {
      clearInterval(timer);
      for (const ws of sockets) ws.terminate();
    },
  };
}
