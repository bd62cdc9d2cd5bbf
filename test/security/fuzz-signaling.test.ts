/**
 * Fuzz tier (issue 8): a real `natpush serve` takes seeded, structure-aware WebSocket frames and
 * raw HTTP requests from 32 connections at once (bench/lib/{ws,http}-fuzz.ts) while an honest
 * pair of peers notifies each other. The server must not crash, must answer every bad input with
 * a stable NATPUSH_ERR_… code (never 500 / INTERNAL, never a stack trace, never an error log),
 * and the honest peer must get each of its notifications exactly once.
 *
 * Reproduce: NATPUSH_FUZZ_SEED=<seed> [NATPUSH_FUZZ_COUNT=n] npx vitest run --project security
 * test/security/fuzz-signaling.test.ts; a million: `node dist/bench/signaling-fuzz.js 1000000 <seed>`.
 */
import { describe, expect, it } from 'vitest';
import { fuzzBudget } from '../support/fuzz-budget.js';
import { formatReport, runSignalingFuzz } from '../../bench/lib/signaling-fuzz.js';
import { judgeHttp, makeHttpInput } from '../../bench/lib/http-fuzz.js';

describe('signaling fuzz', () => {
  it('bad frames and requests get typed errors; the server lives; the honest peer is intact', async () => {
    const { seed, count, budgetMs } = fuzzBudget();
    const r = await runSignalingFuzz({ count, seed, budgetMs, lanes: 16 });
    const report = formatReport(r);
    process.stdout.write(report + '\n');
    const why = `seed ${seed} (NATPUSH_FUZZ_SEED=${seed} to reproduce)\n${report}`;
    expect(r.crashed, why).toBeUndefined();
    expect(r.healthy, why).toBe(true);
    // Enough inputs ran to mean something, even on a loaded machine.
    expect(r.ws.inputs + r.http.inputs, why).toBeGreaterThan(1_000);
    expect(r.ws.failures, why).toEqual([]);
    expect(r.http.failures, why).toEqual([]);
    expect(r.errorLogs, why).toEqual([]);
    expect(r.honest.sent, why).toBeGreaterThan(10);
    expect(r.honest.missing, why).toEqual([]);
    expect(r.honest.duplicates, why).toEqual([]);
    expect(r.honest.forged, why).toEqual([]);
    expect(r.honest.notifyErrors, why).toEqual([]);
  }, 120_000);

  it('the oracle: a body shorter than a Content-Length the parser accepts is an incomplete request', () => {
    // Seed 20261201's HTTP input #9751 (HTTP inputs use seed ^ 0x5bd1e995): `Content-Length:  5`
    // (OWS is not part of the value, RFC 9112 §5: it is 5) and 2 body bytes. The server must
    // wait for 3 more (RFC 9112 §6.3); silence is right, not "a complete request unanswered".
    const fx = {
      host: '127.0.0.1',
      port: 8787,
      apiKey: 'k',
      sessionToken: 't',
      sink: 'a'.repeat(32),
      peer: { peer: 'p', publicKey: 'k' },
    };
    const input = makeHttpInput(20261201 ^ 0x5bd1e995, 9751, fx);
    const text = input.bytes.toString('latin1');
    expect(text).toMatch(/^POST \/v1\/acks HTTP\/1\.1\r\n/);
    expect(text).toMatch(/\r\nContent-Length: {2}5\r\n\r\n/);
    expect(input.bytes.length - text.indexOf('\r\n\r\n') - 4).toBe(2);
    expect(input.incomplete).toBe(true);
    const silence = { status: undefined, headers: '', body: '', stream: false, timedOut: true };
    expect(judgeHttp(input, silence).failure).toBeUndefined();
    // … while a complete request that gets no answer is still a failure.
    expect(judgeHttp({ ...input, incomplete: false }, silence).failure).toMatch(/no answer/);
  });
});
