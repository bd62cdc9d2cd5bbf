/**
 * Fuzzing of the signaling server's HTTP API over raw TCP (so requests can be as broken as an
 * attacker makes them): bad methods and versions, paths with bad percent-escapes and raw bytes,
 * huge and duplicate headers, lying Content-Length, chunked garbage, request smuggling shapes,
 * and each endpoint's JSON body mutated field by field (fuzz-values.ts). Seeded per input.
 *
 * Oracle, per request: never a 500 and never NATPUSH_ERR_INTERNAL; a JSON error body carries a
 * stable `NATPUSH_ERR_[A-Z_]+` code; no stack trace anywhere in an answer; a complete request is
 * answered. Refusals from below the API (Node's parser via `clientError`, an upgrade of a path
 * that is not /v1/ws) carry the same JSON error body; only ws's own handshake check (a bad
 * Sec-WebSocket-Key or -Version on /v1/ws) answers in text, counted apart as `4xx:text`. An error
 * with no body at all fails, except the answer to HEAD, which has none by definition.
 */
import { connect, type Socket } from 'node:net';
import { makeHttpInput, type HttpFixture, type HttpInput } from './http-fuzz-inputs.js';

export * from './http-fuzz-inputs.js';

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
      // RFC 9110 §9.3.2: the answer to HEAD has no content, the code included.
      if (a.body.length === 0 && /^HEAD /.test(input.bytes.toString('latin1', 0, 5)))
        return { label: `${a.status}:head` };
      // ws's handshake check (/v1/ws with a bad key or version) answers in text; nothing else
      // may answer an error without a code.
      const label = a.body.length === 0 ? `${a.status}:bare` : `${a.status}:text`;
      return a.status >= 500 || a.body.length === 0
        ? { label, failure: `${a.status} without a code: ${JSON.stringify(a.headers)}` }
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
