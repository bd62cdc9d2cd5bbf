/**
 * The client's reading of serve's HTTP transports (src/signaling/http-frames.ts, sse-decoder.ts):
 * what a real `natpush serve` sends over SSE, long-poll and the HTTP login decodes to checked
 * frames, and a hostile server's malformed stream is a typed SignalingError for each event —
 * never a crash of the reader, never an unchecked value.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { SignalingError } from '../../src/signaling/errors.js';
import {
  decodeHttpChallenge,
  decodeHttpSession,
  decodeHttpTurnCredentials,
  decodePollReply,
  decodeSseEvent,
  type SseServerEvent,
} from '../../src/signaling/http-frames.js';
import { generateIdentity, signChallenge, type Identity } from '../../src/signaling/identity.js';
import { SseDecoder } from '../../src/signaling/sse-decoder.js';
import { API_KEY, post, Tracker } from '../integration/signaling/helpers.js';
import { within } from './signaling-helpers.js';

const t = new Tracker();
const aborts: AbortController[] = [];
const servers: Server[] = [];
afterEach(async () => {
  for (const a of aborts.splice(0)) a.abort();
  await t.cleanup();
  for (const s of servers.splice(0)) await new Promise<void>((r) => s.close(() => r()));
});

/** One SSE stream read the way a client must: every event decoded, or its typed error. */
class SseClient {
  readonly seen: (SseServerEvent | { error: string })[] = [];
  ended = false;
  #wake: (() => void) | undefined;

  constructor(body: ReadableStream<Uint8Array>, maxEventChars?: number) {
    void this.#read(body, new SseDecoder(maxEventChars));
  }

  async #read(body: ReadableStream<Uint8Array>, d: SseDecoder): Promise<void> {
    const text = new TextDecoder();
    try {
      for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
        let events;
        try {
          events = d.push(text.decode(chunk, { stream: true }));
        } catch (err) {
          this.#note(err); // the decoder stays failed: the stream is done for
          return;
        }
        for (const e of events) {
          try {
            this.seen.push(decodeSseEvent(e));
          } catch (err) {
            this.#note(err);
          }
        }
        this.#wake?.();
      }
    } catch {
      // aborted by the test
    } finally {
      this.ended = true;
      this.#wake?.();
    }
  }

  /** Only typed errors are expected; anything else is recorded so the test fails on it. */
  #note(err: unknown): void {
    this.seen.push({ error: err instanceof SignalingError ? err.code : `UNTYPED ${String(err)}` });
  }

  async until(n: number): Promise<void> {
    while (this.seen.length < n && !this.ended) await new Promise<void>((r) => (this.#wake = r));
  }
}

async function openSse(url: string, maxEventChars?: number): Promise<SseClient> {
  const ac = new AbortController();
  aborts.push(ac);
  const r = await fetch(url, { signal: ac.signal });
  expect(r.status).toBe(200);
  return new SseClient(r.body!, maxEventChars);
}

/** Log in over HTTP with the decoders: challenge, then session. */
async function login(url: string, id: Identity): Promise<string> {
  const keys = { peer: id.peerId, publicKey: id.publicKey };
  const c = await fetch(`${url}/v1/challenge`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(keys),
  });
  const challenge = decodeHttpChallenge(c.status, await c.text());
  const r = await fetch(`${url}/v1/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      ...keys,
      nonce: challenge.nonce,
      signature: signChallenge(id, challenge),
    }),
  });
  const session = decodeHttpSession(r.status, await r.text());
  expect(session.peer).toBe(id.peerId);
  return session.sessionToken;
}

describe('what a real serve sends over HTTP decodes to checked frames', () => {
  it('login, SSE (open, deliver), long-poll, and a typed error for TURN without a relay', async () => {
    const s = await t.server();
    const id = generateIdentity();
    const token = await login(s.url, id);
    const sse = await openSse(`${s.url}/v1/events?token=${encodeURIComponent(token)}`);
    await within(sse.until(1), 20_000, 'the SSE open event');
    expect(sse.seen[0]).toEqual({ kind: 'open', peer: id.peerId, server: expect.any(String) });

    const body = 'line 1\nline 2 "quoted" \u2028 end';
    const auth = { authorization: `Bearer ${API_KEY}` };
    const sent = await post(
      `${s.url}/v1/peers/${id.peerId}/notifications`,
      { id: 'h1', body },
      auth,
    );
    expect(sent.status).toBe(202);
    await within(sse.until(2), 20_000, 'the deliver event');
    expect(sse.seen[1]).toMatchObject({
      kind: 'frame',
      frame: { known: true, message: { type: 'deliver', n: { id: 'h1', to: id.peerId, body } } },
    });

    // The same notification, unacked, is what a long poll of the same peer returns.
    aborts.splice(0).forEach((a) => a.abort());
    const h = { authorization: `Bearer ${token}` };
    const polled = await within(
      (async () => {
        for (;;) {
          const r = await fetch(`${s.url}/v1/poll?wait=2000`, { headers: h });
          const frames = decodePollReply(r.status, await r.text());
          if (frames.length > 0) return frames;
        }
      })(),
      30_000,
      'a poll reply with the notification',
    );
    expect(polled.map((f) => [f.type, f.n.id, f.n.body])).toEqual([['deliver', 'h1', body]]);

    const tc = await fetch(`${s.url}/v1/turn-credentials`, { method: 'POST', headers: h });
    let code: string | undefined;
    try {
      decodeHttpTurnCredentials(tc.status, await tc.text());
    } catch (err) {
      code = err instanceof SignalingError ? err.code : `UNTYPED ${String(err)}`;
    }
    expect(code).toBe('NATPUSH_ERR_RELAY_UNAVAILABLE');
  });
});

describe('a hostile server: each malformed SSE event is a typed error, the rest still read', () => {
  const n = (id: string) =>
    JSON.stringify({
      id,
      from: 'b'.repeat(32),
      to: 'a'.repeat(32),
      topic: 't',
      body: 'x',
      ts: 1,
      expires: 2,
    });

  async function hostile(stream: string): Promise<string> {
    const srv = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(stream);
    });
    servers.push(srv);
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    return `http://127.0.0.1:${(srv.address() as AddressInfo).port}/v1/events`;
  }

  it('bad JSON, a forged id, a bad field, an error naming another type: typed, in order', async () => {
    const url = await hostile(
      [
        `event: deliver\ndata: {"id":\n\n`,
        `id: forged\nevent: deliver\ndata: ${n('real')}\n\n`,
        `event: deliver\ndata: ${n('x y')}\n\n`,
        `event: error\ndata: {"type":"deliver","code":7}\n\n`,
        `event: future-thing\ndata: {}\n\n`,
        `id: ok-1\nevent: deliver\ndata: ${n('ok-1')}\n\n`,
      ].join(''),
    );
    const c = await openSse(url);
    await within(c.until(6), 20_000, 'six events');
    expect(c.seen).toEqual([
      { error: 'NATPUSH_ERR_BAD_FRAME' },
      { error: 'NATPUSH_ERR_BAD_FRAME' },
      { error: 'NATPUSH_ERR_BAD_FRAME' },
      { error: 'NATPUSH_ERR_BAD_FRAME' },
      { kind: 'frame', frame: { known: false, type: 'future-thing' } },
      expect.objectContaining({ kind: 'frame', frame: expect.objectContaining({ known: true }) }),
    ]);
  });

  it('a line that never ends is FRAME_TOO_LARGE at the bound, not unbounded memory', async () => {
    const url = await hostile('data: ' + 'x'.repeat(50_000));
    const c = await openSse(url, 4096);
    await within(c.until(1), 20_000, 'the refusal');
    expect(c.seen).toEqual([{ error: 'NATPUSH_ERR_FRAME_TOO_LARGE' }]);
  });
});
