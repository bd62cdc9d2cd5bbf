/**
 * The signaling fuzz run, shared by test/security/fuzz-signaling.test.ts (tens of thousands of
 * inputs) and bench/signaling-fuzz.ts (a million): a real `natpush serve` child process, seeded
 * WebSocket (ws-fuzz.ts) and HTTP (http-fuzz.ts) inputs from many connections at once, and an
 * honest pair of peers (fuzz-honest-peer.ts) notifying each other throughout. The report says
 * what every input got, what broke the oracle, whether the server lived, what it logged as an
 * error, and its RSS before / at peak / after.
 */
import { generateIdentity, signChallenge, type Identity } from '../../src/signaling/identity.js';
import { registerPeer } from './fuzz-login.js';
import { HonestPair, type HonestReport } from './fuzz-honest-peer.js';
import { startFuzzServe, type FuzzServe } from './fuzz-serve.js';
import { fuzzHttp, type HttpFuzzResult } from './http-fuzz.js';
import { fuzzWebSocket, type WsFuzzResult } from './ws-fuzz.js';

export interface SignalingFuzzReport {
  seed: number;
  ws: WsFuzzResult;
  http: HttpFuzzResult;
  honest: HonestReport;
  /** The serve process exited during the run (a crash). */
  crashed: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  /** /healthz after the run answered 200 with ok:true. */
  healthy: boolean;
  /** `"level":"error"` lines the server logged (the first few). */
  errorLogs: string[];
  errorLogCount: number;
  /** RSS of serve: after a full GC before the run, the peak, after a full GC after it. */
  rss: { before: number; peak: number; after: number };
  /** V8 heap in use after a full GC, before and after the run. */
  heap: { before: number; after: number };
  seconds: number;
}

/** Challenge + session over HTTP: a session token for `id`. */
async function httpSessionToken(url: string, id: Identity): Promise<string> {
  const post = async (path: string, body: unknown) => {
    const r = await fetch(url + path, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (r.status !== 200) throw new Error(`${path}: ${r.status} ${await r.text()}`);
    return (await r.json()) as Record<string, string>;
  };
  const c = await post('/v1/challenge', { peer: id.peerId, publicKey: id.publicKey });
  const s = await post('/v1/session', {
    peer: id.peerId,
    publicKey: id.publicKey,
    nonce: c.nonce,
    signature: signChallenge(
      id,
      c as unknown as { server: string; nonce: string; expires: number },
    ),
  });
  return s.sessionToken!;
}

export function errorLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.includes('"level":"error"'));
}

async function healthy(url: string): Promise<boolean> {
  try {
    const r = await fetch(url + '/healthz', { signal: AbortSignal.timeout(10_000) });
    return r.status === 200 && ((await r.json()) as { ok?: boolean }).ok === true;
  } catch {
    return false;
  }
}

/** RSS sampler: the peak over the run. */
export function rssSampler(serve: FuzzServe, everyMs = 100): { peak(): number; stop(): void } {
  let peak = serve.rss() ?? 0;
  const t = setInterval(() => (peak = Math.max(peak, serve.rss() ?? 0)), everyMs);
  return { peak: () => peak, stop: () => clearInterval(t) };
}

export async function runSignalingFuzz(o: {
  count: number;
  seed: number;
  /** Share of inputs sent over WebSocket (the rest is HTTP); default 0.6. */
  wsShare?: number;
  lanes?: number;
  /** Stop sending new inputs after this long (the report says how many ran). */
  budgetMs?: number;
  onProgress?: (line: string) => void;
}): Promise<SignalingFuzzReport> {
  const t0 = performance.now();
  // The inspector gives a GC hook: RSS before and after are measured after a full GC.
  const serve = await startFuzzServe({ inspect: true });
  try {
    await serve.gc();
    const before = serve.rss() ?? 0;
    const heapBefore = await serve.heapUsed();
    const sampler = rssSampler(serve);
    const sink = await registerPeer(serve.url);
    const httpPeer = generateIdentity();
    const sessionToken = await httpSessionToken(serve.url, httpPeer);
    const honest = await HonestPair.start(serve.url);
    honest.run();
    const deadline = Date.now() + (o.budgetMs ?? Infinity);
    const stop = () => serve.exit !== undefined || Date.now() > deadline;
    const wsCount = Math.round(o.count * (o.wsShare ?? 0.6));
    const progress = setInterval(
      () => o.onProgress?.(`rss ${((serve.rss() ?? 0) / 2 ** 20).toFixed(0)} MB`),
      5_000,
    );
    let ws: WsFuzzResult;
    let http: HttpFuzzResult;
    try {
      [ws, http] = await Promise.all([
        fuzzWebSocket({
          url: serve.url,
          count: wsCount,
          seed: o.seed,
          lanes: o.lanes ?? 16,
          fixture: { sink: sink.peerId, targets: [honest.receiverId] },
          shouldStop: stop,
        }),
        fuzzHttp({
          fixture: {
            host: '127.0.0.1',
            port: serve.port,
            apiKey: serve.apiKey,
            sessionToken,
            sink: sink.peerId,
            peer: { peer: httpPeer.peerId, publicKey: httpPeer.publicKey },
          },
          count: o.count - wsCount,
          seed: o.seed ^ 0x5bd1e995,
          lanes: o.lanes ?? 16,
          shouldStop: stop,
        }),
      ]);
    } finally {
      clearInterval(progress);
    }
    const honestReport = await honest.finish();
    const isHealthy = await healthy(serve.url);
    sampler.stop();
    if (!serve.exit) await serve.gc();
    const heapAfter = serve.exit ? 0 : await serve.heapUsed();
    const errs = errorLines(serve.stderr());
    return {
      seed: o.seed,
      ws,
      http,
      honest: honestReport,
      crashed: serve.exit,
      healthy: isHealthy,
      errorLogs: errs.slice(0, 10),
      errorLogCount: errs.length,
      rss: { before, peak: sampler.peak(), after: serve.rss() ?? 0 },
      heap: { before: heapBefore, after: heapAfter },
      seconds: (performance.now() - t0) / 1000,
    };
  } finally {
    await serve.stop();
  }
}

const MB = (b: number) => `${(b / 2 ** 20).toFixed(0)} MB`;

/** Human-readable report lines (bench output, test failure messages). */
export function formatReport(r: SignalingFuzzReport): string {
  const sorted = (o: Record<string, number>) =>
    Object.entries(o)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `    ${String(v).padStart(8)}  ${k}`)
      .join('\n');
  const inputs = r.ws.inputs + r.http.inputs;
  return [
    `signaling fuzz, seed ${r.seed}: ${inputs} inputs in ${r.seconds.toFixed(1)} s ` +
      `(${(inputs / r.seconds).toFixed(0)} inputs/s); WebSocket ${r.ws.inputs} (${r.ws.logins} logins), HTTP ${r.http.inputs}`,
    `  server: ${r.crashed ? `CRASHED ${JSON.stringify(r.crashed)}` : 'alive'}, /healthz ${r.healthy ? 'ok' : 'FAILED'}, ` +
      `${r.errorLogCount} error log lines; RSS before ${MB(r.rss.before)}, peak ${MB(r.rss.peak)}, after ${MB(r.rss.after)}; ` +
      `heap after GC ${MB(r.heap.before)} → ${MB(r.heap.after)}`,
    `  honest: ${r.honest.sent} sent, ${r.honest.received} received once, ${r.honest.duplicates.length} duplicates, ` +
      `${r.honest.missing.length} missing, ${r.honest.forged.length} forged, ${r.honest.notifyErrors.length} refused, ` +
      `slowest ${r.honest.maxLatencyMs} ms`,
    `  WebSocket outcomes (state outcome):\n${sorted(r.ws.outcomes)}`,
    `  HTTP outcomes (method status:code):\n${sorted(r.http.outcomes)}`,
    ...(r.ws.failures.length + r.http.failures.length > 0
      ? [
          `  FAILURES (seed ${r.seed}; HTTP inputs use seed ${r.seed ^ 0x5bd1e995}):`,
          ...r.ws.failures
            .slice(0, 20)
            .map((f) => `    ws #${f.index} [${f.state} ${f.base}] ${f.failure}\n      ${f.wire}`),
          ...r.http.failures
            .slice(0, 20)
            .map((f) => `    http #${f.index} [${f.endpoint}] ${f.failure}\n      ${f.request}`),
        ]
      : []),
    ...(r.errorLogs.length > 0
      ? ['  server error logs:', ...r.errorLogs.map((l) => '    ' + l.slice(0, 300))]
      : []),
  ].join('\n');
}
