/**
 * Fuzzing of the signaling server's HTTP API over raw TCP (so requests can be as broken as an
 * attacker makes them): bad methods and versions, paths with bad percent-escapes and raw bytes,
 * huge and duplicate headers, lying Content-Length, chunked garbage, request smuggling shapes,
 * and each endpoint's JSON body mutated field by field (fuzz-values.ts). Seeded per input.
 *
 * Oracle, per request: never a 500 and never NATPUSH_ERR_INTERNAL; a JSON error body carries a
 * stable `NATPUSH_ERR_[A-Z_]+` code; no stack trace anywhere in an answer; a complete request is
 * answered. A 4xx from below the API (Node's parser via `clientError`, the upgrade handler, ws's
 * handshake check) carries no JSON body and so no code: counted apart as `4xx:bare` / `4xx:text`.
 */
import { connect, type Socket } from 'node:net';
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

/** Extra, duplicate, huge or malformed header lines. */
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
    case 4:
      return {
        lines: [
          `Content-Length: ${pick(rng, ['-1', 'abc', '1e3', '0x10', '99999999999999999999', ' 5'])}`,
        ],
        lies: false,
      };
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

export interface HttpAnswer {
  status: number | undefined;
  headers: string;
  body: string;
  /** The answer started a stream (SSE) and we hung up after its headers. */
  stream: boolean;
  timedOut: boolean;
}

/** Send raw bytes from `localAddress`, read the answer until the server closes (or a timeout). */
export function exchange(
  fx: { host: string; port: number },
  bytes: Buffer,
  o: { localAddress?: string; timeoutMs: number },
): Promise<HttpAnswer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const s: Socket = connect({
      host: fx.host,
      port: fx.port,
      ...(o.localAddress ? { localAddress: o.localAddress } : {}),
    });
    const finish = (timedOut: boolean, stream = false) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      // Interim 1xx answers (100 Continue) come before the real one.
      const text = Buffer.concat(chunks)
        .toString('latin1')
        .replace(/^(HTTP\/1\.[01] 1\d\d [^\r\n]*\r\n(?:[^\r\n]+\r\n)*\r\n)+/, '');
      const end = text.indexOf('\r\n\r\n');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      resolve({
        status: m ? Number(m[1]) : undefined,
        headers: end >= 0 ? text.slice(0, end) : text,
        body: end >= 0 ? text.slice(end + 4) : '',
        stream,
        timedOut,
      });
    };
    const timer = setTimeout(() => finish(true), o.timeoutMs);
    s.on('connect', () => s.write(bytes));
    s.on('data', (d: Buffer) => {
      if (size < 256 * 1024) chunks.push(d);
      size += d.length;
      const head = Buffer.concat(chunks).toString('latin1');
      if (/\r\n\r\n/.test(head) && /content-type: text\/event-stream/i.test(head))
        finish(false, true);
    });
    s.on('close', () => finish(false));
    s.on('error', () => finish(false));
  });
}

const CODE = /^NATPUSH_ERR_[A-Z0-9_]+$/;
const STACK = /\n\s+at |\bat [\w$.<>]+ \(|node:internal|\/src\/|\.js:\d+/;

/** Outcome label and, when the oracle is violated, the failure. */
export function judgeHttp(input: HttpInput, a: HttpAnswer): { label: string; failure?: string } {
  if (a.status === undefined) {
    if (a.timedOut) {
      const label = input.incomplete ? 'held-incomplete' : 'timeout';
      return input.incomplete || input.endpoint.startsWith('GET /v1/poll')
        ? { label }
        : { label, failure: 'a complete request got no answer in time' };
    }
    return { label: 'closed-no-answer' };
  }
  if (STACK.test(a.body) || STACK.test(a.headers))
    return {
      label: `${a.status}:stack`,
      failure: `stack trace in answer: ${a.body.slice(0, 300)}`,
    };
  if (a.stream) return { label: `${a.status}:stream` };
  let code: string | undefined;
  if (a.status >= 400) {
    try {
      code = (JSON.parse(a.body) as { error?: { code?: unknown } }).error?.code as string;
    } catch {
      code = undefined;
    }
    if (code === undefined) {
      // No JSON body: Node's parser (`clientError`), the upgrade of a path that is not /v1/ws, or
      // ws's handshake check answered before the API saw the request.
      const label = a.body.length === 0 ? `${a.status}:bare` : `${a.status}:text`;
      return a.status >= 500
        ? { label, failure: `${a.status} without a code: ${a.body.slice(0, 200)}` }
        : { label };
    }
    if (!CODE.test(code))
      return { label: `${a.status}:bad-code`, failure: `unstable error code ${code}` };
  }
  const label = code ? `${a.status}:${code}` : String(a.status);
  if (a.status === 500 || code === 'NATPUSH_ERR_INTERNAL')
    return { label, failure: `500 / INTERNAL: ${a.body.slice(0, 300)}` };
  return { label };
}

export interface HttpFuzzResult {
  inputs: number;
  outcomes: Record<string, number>;
  failures: { index: number; endpoint: string; request: string; failure: string }[];
  seconds: number;
}

export async function fuzzHttp(o: {
  fixture: HttpFixture;
  count: number;
  seed: number;
  lanes?: number;
  timeoutMs?: number;
  shouldStop?: () => boolean;
}): Promise<HttpFuzzResult> {
  const t0 = performance.now();
  const result: HttpFuzzResult = { inputs: 0, outcomes: {}, failures: [], seconds: 0 };
  let next = 0;
  const lane = async (n: number): Promise<void> => {
    // Spread over loopback addresses: the per-address HTTP rate limit is not what we fuzz.
    const localAddress = `127.0.${1 + (n >> 8)}.${1 + (n & 0xff)}`;
    while (next < o.count && !o.shouldStop?.()) {
      const index = next++;
      const input = makeHttpInput(o.seed, index, o.fixture);
      const a = await exchange(o.fixture, input.bytes, {
        localAddress,
        timeoutMs: input.incomplete ? 300 : (o.timeoutMs ?? 10_000),
      });
      const j = judgeHttp(input, a);
      result.inputs++;
      const key = `${input.endpoint.split(' ')[0]} ${j.label}`;
      result.outcomes[key] = (result.outcomes[key] ?? 0) + 1;
      if (j.failure && result.failures.length < 50)
        result.failures.push({
          index,
          endpoint: input.endpoint,
          request: JSON.stringify(input.bytes.subarray(0, 400).toString('latin1')),
          failure: j.failure,
        });
    }
  };
  await Promise.all(Array.from({ length: o.lanes ?? 16 }, (_, i) => lane(i)));
  result.seconds = (performance.now() - t0) / 1000;
  return result;
}
