/**
 * The inputs of the HTTP fuzzer (http-fuzz.ts): a request to each endpoint, broken on purpose at
 * every layer — method, target, version, headers (huge, duplicate, lying Content-Length,
 * smuggling shapes), chunked framing, and the JSON body mutated field by field (fuzz-values.ts).
 * Seeded: the same seed and index give the same bytes.
 */
import { LIMITS } from '../../src/signaling/constants.js';
import {
  chance,
  inputRng,
  longString,
  mutateObject,
  mutateText,
  pick,
  type Rng,
} from './fuzz-values.js';

type Json = Record<string, unknown>;

export interface HttpFixture {
  host: string;
  port: number;
  apiKey: string;
  /** A session token of a registered fuzz peer (SSE, poll, acks, turn-credentials). */
  sessionToken: string;
  /** Registered, never online (POSTs pile up in its mailbox). */
  sink: string;
  /** A valid challenge request body (peer + publicKey) for /v1/challenge and /v1/session. */
  peer: { peer: string; publicKey: string };
}

export interface HttpInput {
  index: number;
  endpoint: string;
  bytes: Buffer;
  /** The request is deliberately incomplete (lying length, no header end): an answer is optional. */
  incomplete: boolean;
}

interface Template {
  method: string;
  path: string;
  auth?: string;
  body?: Json;
}

function template(rng: Rng, fx: HttpFixture): Template {
  const token = `Bearer ${fx.sessionToken}`;
  const key = `Bearer ${fx.apiKey}`;
  switch (rng.int(12)) {
    case 0:
    case 1:
      return {
        method: 'POST',
        path: `/v1/peers/${fx.sink}/notifications`,
        auth: key,
        body: {
          body: 'fuzz',
          ...(chance(rng, 2) ? { id: `h${rng.next()}` } : {}),
          ...(chance(rng, 2) ? { topic: 't' } : {}),
          ...(chance(rng, 2) ? { ttl: 60 } : {}),
        },
      };
    case 2:
      return { method: 'GET', path: `/v1/peers/${fx.sink}`, auth: pick(rng, [key, token]) };
    case 3:
      return { method: 'POST', path: '/v1/challenge', body: { ...fx.peer } };
    case 4:
      return {
        method: 'POST',
        path: '/v1/session',
        body: { ...fx.peer, nonce: 'AAAA', signature: 'B'.repeat(86) },
      };
    case 5:
      return { method: 'GET', path: `/v1/events?token=${fx.sessionToken}` };
    case 6:
      return { method: 'GET', path: `/v1/poll?wait=0&ack=a,b`, auth: token };
    case 7:
      return { method: 'POST', path: '/v1/acks', auth: token, body: { ids: ['x', 'y'] } };
    case 8:
      return { method: 'POST', path: '/v1/turn-credentials', auth: token };
    case 9:
      return { method: 'GET', path: pick(rng, ['/healthz', '/metrics']) };
    case 10:
      return { method: 'GET', path: '/v1/ws' };
    default:
      return { method: 'GET', path: pick(rng, ['/', '/v1', '/v1/peers', '/v1/peers/x/y/z']) };
  }
}

const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'TRACE', 'CONNECT'];
const BAD_METHODS = ['get', 'G\u0000T', 'POST ', 'X'.repeat(300), 'PRI', 'M-SEARCH', ''];

function mutatePath(rng: Rng, path: string): string {
  const i = rng.int(path.length + 1);
  const ins = pick(rng, [
    '%',
    '%z',
    '%zz',
    '%E0%A4%A',
    '%C0%AF',
    '%ff%fe',
    '%00',
    '%0d%0a',
    '%2e%2e/',
    '//',
    '/../',
    '?',
    '#',
    '\u00e9',
    '\u0000',
    ';x=1',
    '%25',
  ]);
  switch (rng.int(5)) {
    case 0:
      return path.slice(0, i) + ins + path.slice(i);
    case 1:
      return (
        path +
        '?' +
        pick(rng, [
          'wait=-1',
          'wait=1e309',
          'wait=NaN',
          'ack=' + ',x'.repeat(300),
          'token=%zz',
          'token=' + 'a'.repeat(3000),
        ])
      );
    case 2:
      return '/' + 'a/'.repeat(rng.int(9000));
    case 3:
      return pick(rng, ['*', 'http://evil.example/v1/acks', '//x', 'v1/acks', '']);
    default:
      return path.replace(/[a-z]/, (c) => '%' + c.charCodeAt(0).toString(16));
  }
}

/**
 * True when `value` is a Content-Length a parser accepts (RFC 9110 §8.6: 1*DIGIT; RFC 9112 §5:
 * the OWS around a field value is not part of it, so ` 5` is 5; llhttp refuses what overflows
 * 64 bits) and it announces more bytes than the body has: the server must wait for the rest
 * (RFC 9112 §6.3), so the request is incomplete and an answer before its timeout is optional.
 */
function declaresMore(value: string, bodyLength: number): boolean {
  const v = value.trim();
  return /^\d+$/.test(v) && BigInt(v) < 2n ** 64n && BigInt(v) > BigInt(bodyLength);
}

/**
 * Extra, duplicate, huge or malformed header lines. `lies`: they declare a body longer than
 * the `bodyLength` bytes that follow (a Content-Length the parser accepts).
 */
function headerNoise(rng: Rng, bodyLength: number): { lines: string[]; lies: boolean } {
  switch (rng.int(12)) {
    case 0:
      return { lines: [`X-Big: ${'a'.repeat(pick(rng, [8_000, 17_000, 70_000]))}`], lies: false };
    case 1:
      return {
        lines: Array.from({ length: pick(rng, [100, 2_100]) }, (_, i) => `X-${i}: v`),
        lies: false,
      };
    case 2:
      return {
        lines: [`Content-Length: ${bodyLength}`, `Content-Length: ${bodyLength + 1}`],
        lies: false,
      };
    case 3:
      return { lines: ['Transfer-Encoding: chunked'], lies: false };
    case 4: {
      const v = pick(rng, ['-1', 'abc', '1e3', '0x10', '99999999999999999999', ' 5']);
      return { lines: [`Content-Length: ${v}`], lies: declaresMore(v, bodyLength) };
    }
    case 5:
      return { lines: ['X-Injected: a\nContent-Length: 0'], lies: false };
    case 6:
      return { lines: ['X-Folded: a', ' continued'], lies: false };
    case 7:
      return { lines: ['Bad Header: x', 'NoColon', ': empty-name'], lies: false };
    case 8:
      return { lines: ['Authorization: Bearer a', 'Authorization: Bearer b'], lies: false };
    case 9:
      return { lines: ['Expect: 100-continue'], lies: false };
    case 10:
      return {
        lines: [
          'Upgrade: websocket',
          'Connection: Upgrade',
          'Sec-WebSocket-Version: 99',
          'Sec-WebSocket-Key: !!',
        ],
        lies: false,
      };
    default:
      return {
        lines: [
          `Content-Type: ${pick(rng, ['text/plain', 'application/json; charset=utf-16', '\u00ff'])}`,
        ],
        lies: false,
      };
  }
}

function body(rng: Rng, t: Template): string {
  if (!t.body) return chance(rng, 4) ? JSON.stringify({ x: 1 }) : '';
  const r = rng.int(10);
  if (r < 3) return JSON.stringify(t.body);
  if (r < 7) return JSON.stringify(mutateObject(rng, t.body));
  if (r < 8) return mutateText(rng, JSON.stringify(t.body));
  if (r < 9) return longString(rng, LIMITS.maxHttpBodyBytes + 1 + rng.int(1000));
  return Buffer.from(Array.from({ length: rng.int(200) }, () => rng.int(256))).toString('latin1');
}

/** Chunked encoding, honest or with garbage sizes / no terminator. */
function chunked(rng: Rng, b: Buffer): { bytes: Buffer; incomplete: boolean } {
  const r = rng.int(4);
  if (r === 0)
    return {
      bytes: Buffer.concat([
        Buffer.from(`${b.length.toString(16)}\r\n`),
        b,
        Buffer.from('\r\n0\r\n\r\n'),
      ]),
      incomplete: false,
    };
  if (r === 1)
    return {
      bytes: Buffer.from(`zz\r\n${b.toString('latin1')}\r\n0\r\n\r\n`, 'latin1'),
      incomplete: false,
    };
  if (r === 2) return { bytes: Buffer.from(`fffffffffffffffff\r\nabc\r\n`), incomplete: false };
  return {
    bytes: Buffer.concat([Buffer.from(`${(b.length + 10).toString(16)}\r\n`), b]),
    incomplete: true,
  };
}

export function makeHttpInput(seed: number, index: number, fx: HttpFixture): HttpInput {
  const rng = inputRng(seed, index);
  const t = template(rng, fx);
  const endpoint = `${t.method} ${t.path.split('?')[0]}`;
  let method = t.method;
  if (chance(rng, 6)) method = chance(rng, 3) ? pick(rng, BAD_METHODS) : pick(rng, METHODS);
  const path = chance(rng, 4) ? mutatePath(rng, t.path) : t.path;
  const version = chance(rng, 20)
    ? pick(rng, ['HTTP/1.0', 'HTTP/2.0', 'HTTP/9.9', 'HTTX/1.1', ''])
    : 'HTTP/1.1';
  const b = Buffer.from(body(rng, t), chance(rng, 10) ? 'latin1' : 'utf8');
  const lines = [
    `${method} ${path} ${version}`,
    `Host: ${fx.host}:${fx.port}`,
    'Connection: close',
  ];
  if (t.auth && !chance(rng, 8))
    lines.push(`Authorization: ${chance(rng, 8) ? 'Bearer ' + longString(rng, 100) : t.auth}`);
  let incomplete = false;
  let payload: Buffer = b;
  const noise = chance(rng, 3) ? headerNoise(rng, b.length) : { lines: [], lies: false };
  lines.push(...noise.lines);
  if (noise.lies) incomplete = true;
  if (noise.lines.some((l) => /^Transfer-Encoding: chunked/.test(l))) {
    const c = chunked(rng, b);
    payload = c.bytes;
    incomplete = c.incomplete;
  } else if (
    !noise.lines.some((l) => /^Content-Length/i.test(l)) &&
    (b.length > 0 || method === 'POST')
  ) {
    // Honest length mostly; sometimes short (the rest is a second, garbage request) or long.
    const r = rng.int(10);
    const declared =
      r === 0
        ? Math.max(0, b.length - 1 - rng.int(10))
        : r === 1
          ? b.length + 1 + rng.int(100)
          : b.length;
    if (declared > b.length) incomplete = true;
    lines.push(`Content-Length: ${declared}`);
  }
  let head = lines.join('\r\n') + '\r\n\r\n';
  if (chance(rng, 30)) {
    head = head.slice(0, rng.int(head.length)); // headers never finished
    incomplete = true;
    payload = Buffer.alloc(0);
  } else if (chance(rng, 40)) head = head.replace(/\r\n/g, '\n'); // bare LF line ends
  return {
    index,
    endpoint,
    bytes: Buffer.concat([Buffer.from(head, 'latin1'), payload]),
    incomplete,
  };
}
