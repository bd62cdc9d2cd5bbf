/**
 * Every answer of the HTTP API meant for curl ends in exactly one `\n` (http-util.ts jsonBody):
 * the presence answer (`GET /v1/peers/{id}`, the README's curl loop), health, readiness, the
 * notification receipt, login, typed errors from a handler and from the bare-socket path
 * (`endWithError`), and the Prometheus text. Before, the JSON answers had no final newline: the
 * shell prompt was glued to the presence answer and `curl … | while read` lost the last record.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { generateIdentity } from '../../../src/signaling/identity.js';
import { API_KEY, httpSession, Tracker } from './helpers.js';

const t = new Tracker();
afterEach(() => t.cleanup());
const auth = { authorization: `Bearer ${API_KEY}` };

/** One complete line of JSON: a single trailing newline, none inside, parses. */
function expectJsonLine(text: string): void {
  expect(text.endsWith('\n')).toBe(true);
  expect(text.indexOf('\n')).toBe(text.length - 1);
  expect(() => JSON.parse(text) as unknown).not.toThrow();
}

/** A raw HTTP/1.1 exchange: the whole answer (head and body) as the server wrote it. */
function rawRequest(url: string, request: string): Promise<string> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const s = net.connect(Number(u.port), u.hostname, () => s.write(request));
    let out = '';
    s.on('data', (d: Buffer) => (out += d.toString('utf8')));
    s.on('end', () => resolve(out));
    s.on('close', () => resolve(out));
    s.on('error', reject);
  });
}

describe('HTTP answers end with a newline', () => {
  it('presence, health, readiness, receipt, login and typed errors are one JSON line each', async () => {
    const s = await t.server();
    const id = generateIdentity();
    await httpSession(s, id);
    const answers: [string, Response][] = [
      ['presence', await fetch(`${s.url}/v1/peers/${id.peerId}`, { headers: auth })],
      ['healthz', await fetch(`${s.url}/healthz`)],
      ['readyz', await fetch(`${s.url}/readyz`)],
      [
        'receipt',
        await fetch(`${s.url}/v1/peers/${id.peerId}/notifications`, {
          method: 'POST',
          headers: { ...auth, 'content-type': 'application/json' },
          body: JSON.stringify({ body: 'x' }),
        }),
      ],
      ['challenge', await fetch(`${s.url}/v1/challenge`, { method: 'POST', body: '{}' })],
      ['no api key', await fetch(`${s.url}/v1/peers/${id.peerId}`)],
      ['unknown route', await fetch(`${s.url}/v1/nope`, { headers: auth })],
      ['bad id', await fetch(`${s.url}/v1/peers/NOT-AN-ID`, { headers: auth })],
    ];
    for (const [name, r] of answers) {
      const text = await r.text();
      expect.soft(text.endsWith('\n'), `${name}: ${JSON.stringify(text)}`).toBe(true);
      expectJsonLine(text);
      expect(Number(r.headers.get('content-length'))).toBe(Buffer.byteLength(text));
    }
    const metrics = await (await fetch(`${s.url}/metrics`)).text();
    expect(metrics.endsWith('\n')).toBe(true);
  });

  it('an error written on the bare socket (upgrade to a path not served) ends with a newline', async () => {
    const s = await t.server();
    const answer = await rawRequest(
      s.url,
      'GET /not-ws HTTP/1.1\r\nhost: x\r\nconnection: upgrade\r\nupgrade: websocket\r\n' +
        'sec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    );
    const [head, body] = answer.split('\r\n\r\n', 2) as [string, string];
    expect(head).toMatch(/^HTTP\/1\.1 4\d\d /);
    expect(head).toMatch(/content-type: application\/json/i);
    expectJsonLine(body);
    expect(head).toContain(`content-length: ${Buffer.byteLength(body)}`);
  });
});
