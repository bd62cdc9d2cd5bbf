/** Loopback helpers: a server on port 0 and a raw protocol client that speaks frames by hand. */
import http from 'node:http';
import WebSocket from 'ws';
import { generateIdentity, signChallenge, type Identity } from '../../../src/signaling/identity.js';
import { WS_SUBPROTOCOL } from '../../../src/signaling/constants.js';
import {
  startSignalingServer,
  type SignalingServer,
  type SignalingServerOptions,
} from '../../../src/signaling/server.js';
import type { ServerMessage } from '../../../src/signaling/protocol.js';
import { MemoryStore } from '../../../src/signaling/store/memory-store.js';

export const API_KEY = 'test-api-key';

export class Tracker {
  servers: SignalingServer[] = [];
  sockets: RawClient[] = [];
  closers: (() => Promise<void> | void)[] = [];

  async server(o: SignalingServerOptions = {}): Promise<SignalingServer> {
    const s = await startSignalingServer({ apiKeys: [API_KEY], ...o });
    this.servers.push(s);
    return s;
  }

  async raw(s: SignalingServer): Promise<RawClient> {
    const c = await RawClient.open(s.url);
    this.sockets.push(c);
    return c;
  }

  async cleanup(): Promise<void> {
    // A test that vitest timed out while a wait was pending: say what it waited for (the
    // deadline of the wait itself is longer than most tests' timeouts).
    for (const c of this.sockets) {
      for (const what of c.pending())
        process.stderr.write(`RawClient still ${what}; ${c.lastFrames()}\n`);
    }
    for (const c of this.sockets.splice(0)) c.ws.terminate();
    for (const f of this.closers.splice(0).reverse()) await f();
    for (const s of this.servers.splice(0)) await s.close();
  }
}

/**
 * How long `wait`/`waitClose` wait by default: longer than any caller needs (the cluster tests'
 * slowest waits are bounded at 60 s by their own events), so the deadline only turns a hang into
 * an error that names what was awaited and the last frames seen, instead of vitest's bare timeout.
 */
export const RAW_WAIT_MS = 90_000;

interface Waiter {
  what: string;
  pred: (m: ServerMessage) => boolean;
  resolve: (m: ServerMessage) => void;
  reject: (e: Error) => void;
}

/** A hand-driven protocol client: send any text, await frames by predicate, see the close. */
export class RawClient {
  frames: ServerMessage[] = [];
  closed: { code: number; reason: string } | undefined;
  /** The last frames received (handed out or not), for the errors of waits that fail. */
  recent: ServerMessage[] = [];
  #waiters: Waiter[] = [];
  #closeWaiters: (() => void)[] = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (d) => {
      const m = JSON.parse(d.toString()) as ServerMessage;
      this.frames.push(m);
      this.recent.push(m);
      if (this.recent.length > 10) this.recent.shift();
      for (const w of [...this.#waiters]) {
        if (w.pred(m)) {
          this.#waiters.splice(this.#waiters.indexOf(w), 1);
          w.resolve(m);
        }
      }
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      for (const f of this.#closeWaiters.splice(0)) f();
      // No frame can follow the close: a wait still pending would only hang. Rejected after
      // what the close resolves has run (a macrotask later), so a race between a wait for the
      // close (or a fatal error) and a wait for a frame that never comes is won by the close.
      const pending = this.#waiters.splice(0);
      setImmediate(() => {
        for (const w of pending) {
          w.reject(new Error(`${w.what}: the socket closed first (${this.#describeClose()})`));
        }
      });
    });
    ws.on('error', () => {});
  }

  static open(base: string, opts: WebSocket.ClientOptions = {}): Promise<RawClient> {
    const ws = new WebSocket(base.replace(/^http/, 'ws') + '/v1/ws', WS_SUBPROTOCOL, opts);
    const c = new RawClient(ws);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(c));
      ws.once('error', reject);
    });
  }

  send(m: unknown): void {
    this.ws.send(typeof m === 'string' ? m : JSON.stringify(m));
  }

  /** What the waits still pending wait for. */
  pending(): string[] {
    return [
      ...this.#waiters.map((w) => w.what),
      ...(this.#closeWaiters.length > 0 ? ['waiting for the socket to close'] : []),
    ];
  }

  lastFrames(): string {
    return this.#describe();
  }

  /** What the server sent last (for errors). */
  #describe(): string {
    const last = this.recent.map((m) => JSON.stringify(m).slice(0, 300)).join('\n    ');
    return `last frames seen (oldest first):\n    ${last || '(none)'}`;
  }

  #describeClose(): string {
    return `code ${this.closed?.code}, reason ${JSON.stringify(this.closed?.reason)}; ${this.#describe()}`;
  }

  /**
   * Next frame (already received or future) matching `pred`; rejects, naming the frame type and
   * the last frames seen, after `ms` or when the socket closes first.
   */
  wait<T extends ServerMessage['type']>(
    type: T,
    pred: (m: Extract<ServerMessage, { type: T }>) => boolean = () => true,
    ms = RAW_WAIT_MS,
  ): Promise<Extract<ServerMessage, { type: T }>> {
    const p = (m: ServerMessage) =>
      m.type === type && pred(m as Extract<ServerMessage, { type: T }>);
    const have = this.frames.find(p);
    if (have) {
      this.frames.splice(this.frames.indexOf(have), 1);
      return Promise.resolve(have as Extract<ServerMessage, { type: T }>);
    }
    const what = `waiting for a '${type}' frame${pred.toString() === '() => true' ? '' : ` matching ${pred.toString().slice(0, 200)}`}`;
    if (this.closed) {
      return Promise.reject(new Error(`${what}: the socket is closed (${this.#describeClose()})`));
    }
    const promise = new Promise<Extract<ServerMessage, { type: T }>>((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.#waiters.indexOf(w);
        if (i >= 0) this.#waiters.splice(i, 1);
        reject(new Error(`${what}: none within ${ms / 1_000} s; ${this.#describe()}`));
      }, ms);
      const w: Waiter = {
        what,
        pred: p,
        resolve: (m) => {
          clearTimeout(timer);
          this.frames.splice(this.frames.indexOf(m), 1);
          resolve(m as Extract<ServerMessage, { type: T }>);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.#waiters.push(w);
    });
    // A wait a test starts and never awaits (a race it no longer needs) must not become an
    // unhandled rejection that fails the run later; an awaited one still throws.
    promise.catch(() => {});
    return promise;
  }

  /** The close; rejects, with the last frames seen, after `ms`. */
  waitClose(ms = RAW_WAIT_MS): Promise<{ code: number; reason: string }> {
    if (this.closed) return Promise.resolve(this.closed);
    const promise = new Promise<{ code: number; reason: string }>((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.#closeWaiters.indexOf(f);
        if (i >= 0) this.#closeWaiters.splice(i, 1);
        reject(
          new Error(
            `waiting for the socket to close: still open after ${ms / 1_000} s; ${this.#describe()}`,
          ),
        );
      }, ms);
      const f = () => {
        clearTimeout(timer);
        resolve(this.closed!);
      };
      this.#closeWaiters.push(f);
    });
    promise.catch(() => {});
    return promise;
  }

  /** hello → challenge → auth → welcome with `id` (a new identity by default). */
  async login(id: Identity = generateIdentity(), token?: string): Promise<Identity> {
    this.send({
      type: 'hello',
      v: 1,
      peer: id.peerId,
      publicKey: id.publicKey,
      ...(token ? { token } : {}),
    });
    const c = await this.wait('challenge');
    this.send({ type: 'auth', nonce: c.nonce, signature: signChallenge(id, c) });
    await this.wait('welcome');
    return id;
  }
}

/**
 * Send `allow` (the contact list) and wait until the server has applied it: frames of one
 * connection are handled in order, so the `pong` to a ping sent after it proves it.
 */
export async function allow(c: RawClient, peers: string[], anyone = false): Promise<void> {
  c.send({ type: 'allow', peers, anyone });
  const t = Math.random();
  c.send({ type: 'ping', t });
  await c.wait('pong', (m) => m.t === t);
}

/** The first fatal error frame and the close that follows it. */
export async function expectFatal(c: RawClient): Promise<{ code: string; wsCode: number }> {
  const e = await c.wait('error', (m) => m.fatal);
  const cl = await c.waitClose();
  return { code: e.code, wsCode: cl.code };
}

export async function post(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
): Promise<{ status: number; json: any }> {
  const r = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await r.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: r.status, json };
}

/** Register `id` over HTTP (challenge + session) and return its session token. */
export async function httpSession(s: { url: string }, id: Identity): Promise<string> {
  const c = await post(`${s.url}/v1/challenge`, { peer: id.peerId, publicKey: id.publicKey });
  if (c.status !== 200) throw new Error(`challenge: ${c.status} ${JSON.stringify(c.json)}`);
  const r = await post(`${s.url}/v1/session`, {
    peer: id.peerId,
    publicKey: id.publicKey,
    nonce: c.json.nonce,
    signature: signChallenge(id, c.json),
  });
  if (r.status !== 200) throw new Error(`session: ${r.status} ${JSON.stringify(r.json)}`);
  return r.json.sessionToken as string;
}

/**
 * A memory store whose `sync()` (mailbox.ts waits for it before answering `accepted` and
 * `welcome`) the test holds and releases, to see what the server does while an fsync runs.
 * `holding = false` lets syncs through (to log peers in first).
 */
export class HeldSyncStore extends MemoryStore {
  holding = true;
  #held: (() => void)[] = [];
  #onHeld: (() => void) | undefined;
  sync(): Promise<void> {
    if (!this.holding) return Promise.resolve();
    return new Promise((resolve) => {
      this.#held.push(resolve);
      this.#onHeld?.();
    });
  }
  /** Resolves once a sync is held (a commit has run and waits for its fsync). */
  held(): Promise<void> {
    if (this.#held.length > 0) return Promise.resolve();
    return new Promise((r) => (this.#onHeld = r));
  }
  release(): void {
    for (const r of this.#held.splice(0)) r();
  }
}

/** Every frame the server wrote to `c` before now has arrived (a pong follows them). */
export function drained(c: RawClient): Promise<void> {
  return new Promise((resolve) => {
    c.ws.once('pong', () => resolve());
    c.ws.ping();
  });
}

/** One event of a GET /v1/events stream. */
export interface SseEvent {
  event: string;
  data: string;
}

/**
 * A reader of GET /v1/events (SSE) with a session token: `all` holds every event in order,
 * `next(type)` resolves with the JSON of the first event of that type it has not handed out yet.
 * The caller closes it (`close`), in its own clean-up.
 */
export function sseStream(url: string, token: string) {
  const all: SseEvent[] = [];
  const unread: SseEvent[] = [];
  const waiters: (() => void)[] = [];
  let buf = '';
  const req = http.get(
    url + '/v1/events',
    { headers: { authorization: `Bearer ${token}` } },
    (res) => {
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event && data) {
            all.push({ event, data });
            unread.push({ event, data });
          }
          for (const w of waiters.splice(0)) w();
        }
      });
    },
  );
  req.on('error', () => {});
  return {
    all,
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    async next(event: string): Promise<any> {
      for (;;) {
        const i = unread.findIndex((e) => e.event === event);
        if (i >= 0) return JSON.parse(unread.splice(i, 1)[0]!.data);
        await new Promise<void>((r) => waiters.push(r));
      }
    },
    close: (): void => void req.destroy(),
  };
}
