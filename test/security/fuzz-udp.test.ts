/**
 * Fuzz tier (issue 8), UDP: a real `natpush serve` takes seeded random and mutated STUN, TURN
 * (signed with real credentials) and ChannelData datagrams, and bytes from every RFC 7983 range,
 * on its STUN and relay ports from 16 source addresses (bench/lib/udp-fuzz.ts), while an honest
 * pair of peers notifies each other. Serve must not crash, never answer 500, never log an error,
 * still answer a Binding and relay for honest peers, and deliver every honest notification once.
 *
 * Reproduce: NATPUSH_FUZZ_SEED=<seed> npx vitest run --project security test/security/fuzz-udp.test.ts;
 * a million: `node dist/bench/udp-fuzz.js 1000000 <seed>`.
 */
import { describe, expect, it } from 'vitest';
import { fuzzBudget } from '../support/fuzz-budget.js';
import { formatUdpReport, runUdpFuzz } from '../../bench/lib/udp-fuzz.js';

describe('UDP fuzz', () => {
  it('STUN and TURN ports survive mutated datagrams; honest relay and notifications intact', async () => {
    const { seed, count, budgetMs } = fuzzBudget({ count: 50_000, budgetMs: 30_000 });
    const r = await runUdpFuzz({ count, seed, budgetMs });
    const report = formatUdpReport(r);
    process.stdout.write(report + '\n');
    const why = `seed ${seed} (NATPUSH_FUZZ_SEED=${seed} to reproduce)\n${report}`;
    expect(r.crashed, why).toBeUndefined();
    expect(r.inputs, why).toBeGreaterThan(5_000);
    expect(r.failures, why).toEqual([]);
    expect(r.errorLogs, why).toEqual([]);
    expect(r.stunAlive, why).toBe(true);
    expect(r.relayAlive, why).toBe('ok');
    expect(r.honest.missing, why).toEqual([]);
    expect(r.honest.duplicates, why).toEqual([]);
    expect(r.honest.forged, why).toEqual([]);
  }, 120_000);
});
