/**
 * Port prediction and address-dependent mapping across real Linux NAT (netsim), N attempts per
 * cell (default 50): success rate and time to direct (prepare = one STUN binding per side, the
 * exchange of predicted ports, probing). Cells: symmetric-preserving × itself, sequential ×
 * itself, sequential × preserving, address-dependent × restricted-cone, and random-port
 * symmetric × itself as the control (expected 0). Birthday probing is bench/birthday.ts.
 *
 *   npm run build && node dist/bench/hard-nat.js [--runs 50] [--parallel 3]
 *
 * Root only. Prints the load average, which moves the timings.
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import type { NatPreset } from '../netsim/index.js';
import {
  HardNatAgent,
  pairedLab,
  predictionPunch,
  quantile,
  startStun,
} from './lib/hard-nat-lab.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '50' },
    parallel: { type: 'string', default: '3' },
  },
});
const runs = Number(values.runs);
const parallel = Number(values.parallel);

const CELLS: [string, NatPreset, NatPreset][] = [
  ['pp', 'symmetric-preserving', 'symmetric-preserving'],
  ['ss', 'symmetric-sequential', 'symmetric-sequential'],
  ['sp', 'symmetric-sequential', 'symmetric-preserving'],
  ['ar', 'address-dependent', 'restricted-cone'],
  ['rr', 'symmetric', 'symmetric'],
];

const lab = await pairedLab(CELLS, parallel, ['-l', '-r'], ['a', 'b']);
const agents: HardNatAgent[] = [];
try {
  const stun = await startStun(lab);
  const lines: string[] = [];
  for (const [id, x, y] of CELLS) {
    const results: { direct: boolean; ms: number }[] = [];
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: parallel }, async (_, k) => {
        const a = HardNatAgent.start(lab, `${id}${k}a`);
        const b = HardNatAgent.start(lab, `${id}${k}b`);
        agents.push(a, b);
        await Promise.all([
          a.ask({ measure: { server: stun.endpoint } }, 'measured'),
          b.ask({ measure: { server: stun.endpoint } }, 'measured'),
        ]);
        // The control never connects and waits out every timeout: 10 attempts keep the bench
        // under a minute.
        const cellRuns = x === 'symmetric' ? Math.min(runs, 10) : runs;
        while (results.length < cellRuns) {
          const r = await predictionPunch(a, b, stun.endpoint, { timeoutMs: 1_000 });
          if (results.length < cellRuns) results.push(r);
        }
      }),
    );
    const ok = results.filter((r) => r.direct).map((r) => r.ms);
    lines.push(
      `${x} × ${y}: ${ok.length}/${results.length} direct` +
        (ok.length > 0
          ? `, time to direct p50 ${quantile(ok, 0.5)} ms, p95 ${quantile(ok, 0.95)} ms, max ${Math.max(...ok)} ms`
          : '') +
        `; wall ${Math.round(performance.now() - t0)} ms`,
    );
  }
  stun.child.kill('SIGKILL');
  process.stdout.write(
    `port prediction / address-dependent mapping, netsim, ${runs} attempts per cell, ${parallel} pairs ` +
      `in parallel; load ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}\n` +
      lines.join('\n') +
      '\n',
  );
} finally {
  for (const a of agents) a.kill();
  await lab.destroy();
}
