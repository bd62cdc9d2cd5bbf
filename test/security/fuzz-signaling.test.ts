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
});
