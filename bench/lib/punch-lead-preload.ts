/**
 * Bench-only preload for `natpush serve` (`node --import dist/bench/lib/punch-lead-preload.js
 * dist/src/cli/main.js serve …`): sets TIMING.punchLeadMs from NATPUSH_BENCH_PUNCH_LEAD_MS before
 * the server reads it, so bench/punch-latency.ts can measure what the coordinated-start lead costs
 * without a serve option for it. TIMING is a plain object (`as const` does not freeze it) and the
 * CLI imports the same module instance.
 */
import { TIMING } from '../../src/signaling/constants.js';

const lead = Number(process.env.NATPUSH_BENCH_PUNCH_LEAD_MS);
if (process.env.NATPUSH_BENCH_PUNCH_LEAD_MS && Number.isFinite(lead) && lead >= 0)
  (TIMING as { punchLeadMs: number }).punchLeadMs = lead;
