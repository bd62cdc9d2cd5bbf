/**
 * A serve played by a hand-written WebSocket server on loopback, for the real SignalingClient
 * against frames today's serve never sends (test/integration/signaling/forward-compat.test.ts:
 * fields and frame types of a newer serve; test/security/client-newer-enums.test.ts: enum values
 * it does not know). It logs any client in without checking the proof, then sends its script.
 */
import { WebSocketServer, type WebSocket } from 'ws';
import { SignalingClient } from '../../src/signaling/client.js';
import type { Identity } from '../../src/signaling/identity.js';
import type { LogFields, Logger } from '../../src/util/logger.js';

export interface ScriptedServe {
  url: string;
  /** WebSocket connections that closed so far (a client that refuses a frame drops its own). */
  closes: () => number;
  close(): Promise<void>;
}

/**
 * Answers `hello` with a challenge (plus `challenge`'s fields, e.g. one this client does not
 * know), and `auth` with `after(peer)` on the same socket, `peer` being the one `hello` named.
 */
export async function scriptedServe(
  after: (peer: string) => object[],
  o: { challenge?: object } = {},
): Promise<ScriptedServe> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => wss.once('listening', resolve));
  let closes = 0;
  wss.on('connection', (ws: WebSocket) => {
    let peer = '';
    ws.on('close', () => closes++);
    ws.on('message', (data) => {
      const m = JSON.parse(String(data)) as { type: string; peer?: string };
      if (m.type === 'hello') {
        peer = m.peer ?? '';
        const expires = Date.now() + 30_000;
        const challenge = { type: 'challenge', server: 's', nonce: 'bm9uY2U', expires };
        ws.send(JSON.stringify({ ...challenge, ...o.challenge }));
      } else if (m.type === 'auth') {
        for (const f of after(peer)) ws.send(JSON.stringify(f));
      }
    });
  });
  const { port } = wss.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    closes: () => closes,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => resolve());
      }),
  };
}

/** The limits a scripted welcome announces. */
export const WELCOME_LIMITS = {
  maxFrameBytes: 65_536,
  maxBodyBytes: 16_384,
  maxTtlSeconds: 60,
  ratePerSecond: 50,
};

/** The welcome a scripted serve gives `peer`, as today's client knows it. */
export const welcomeOf = (peer: string) => ({
  type: 'welcome',
  v: 1,
  peer,
  server: 's',
  sessionToken: 't',
  time: Date.now(),
  limits: WELCOME_LIMITS,
});

/** A logger that keeps every line: [level, message, fields]. */
export function recordingLogger(): Logger & { lines: [string, string, LogFields | undefined][] } {
  const lines: [string, string, LogFields | undefined][] = [];
  const at = (level: string) => (msg: string, fields?: LogFields) =>
    lines.push([level, msg, fields]);
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/**
 * The real SignalingClient of `identity` logging in to `url`, started, with a recording logger;
 * its first retry is a minute away, so a connection it drops stays dropped while the test looks.
 * `disconnected` resolves when it dropped it.
 */
export function startClient(
  url: string,
  identity: Identity,
): {
  client: SignalingClient;
  logger: ReturnType<typeof recordingLogger>;
  disconnected: Promise<unknown>;
} {
  const logger = recordingLogger();
  const client = new SignalingClient({
    url,
    identity,
    logger,
    backoff: { initialMs: 60_000, maxMs: 60_000, factor: 1 },
  });
  const disconnected = new Promise((resolve) => client.once('disconnected', resolve));
  client.start();
  return { client, logger, disconnected };
}
