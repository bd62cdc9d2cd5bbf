/**
 * Birthday probing across real Linux NAT (netsim): random-port symmetric × port-restricted and
 * × restricted-cone, N attempts per cell (default 50), each with a 20 s limit. Prints the
 * success rate, time to direct (p50 / p95 / max), probes sent per success, and the probability
 * the plan predicts for its budget — side by side, so a gap between theory and the lab shows.
 *
 *   npm run build && node dist/bench/birthday.js [--runs 50] [--budget 2048] [--sockets 256]
 *     [--pace 2] [--parallel 2]
 *
 * Root only. Each attempt uses fresh sockets on both sides (new mappings); `--parallel K` runs K
 * host pairs per cell side by side. Prints the load average, which moves the timings.
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import type { NatPreset } from '../netsim/index.js';
import { birthdaySuccessProbability } from '../src/punch/birthday.js';
import {
  birthdayAttempt,
  HardNatAgent,
  pairedLab,
  quantile,
  startStun,
} from './lib/hard-nat-lab.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '50' },
    budget: { type: 'string', default: '2048' },
    sockets: { type: 'string', default: '256' },
    pace: { type: 'string', default: '2' },
    parallel: { type: 'string', default: '2' },
  },
});
const runs = Number(values.runs);
const budget = Number(values.budget);
const sockets = Number(values.sockets);
const paceMs = Number(values.pace);
const parallel = Number(values.parallel);

const CELLS: [string, NatPreset, NatPreset][] = [
  ['pr', 'symmetric', 'port-restricted'],
  ['rc', 'symmetric', 'restricted-cone'],
];

const lab = await pairedLab(CELLS, parallel, ['-h', '-e'], ['h', 'e']);
const agents: HardNatAgent[] = [];
try {
  const stun = await startStun(lab);
  const predicted = birthdaySuccessProbability(sockets, budget, 64512);
  const lines: string[] = [];
  for (const [id, x, y] of CELLS) {
    const results: { ok: boolean; ms: number; sent: number }[] = [];
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: parallel }, async (_, k) => {
        const hard = HardNatAgent.start(lab, `${id}${k}h`);
        const easy = HardNatAgent.start(lab, `${id}${k}e`);
        agents.push(hard, easy);
        while (results.length < runs) {
          const r = await birthdayAttempt(hard, easy, stun.endpoint, lab.address(`${id}${k}-h`), {
            sockets,
            budget,
            paceMs,
          });
          if (results.length < runs) results.push(r);
        }
      }),
    );
    const ok = results.filter((r) => r.ok);
    const ms = ok.map((r) => r.ms);
    lines.push(
      `${x} × ${y}: ${ok.length}/${results.length} direct (${((ok.length / results.length) * 100).toFixed(1)} %, ` +
        `predicted ${(predicted * 100).toFixed(2)} %); time to direct p50 ${quantile(ms, 0.5)} ms, ` +
        `p95 ${quantile(ms, 0.95)} ms, max ${Math.max(...ms)} ms; probes per success ` +
        `${(ok.reduce((n, r) => n + r.sent, 0) / Math.max(1, ok.length)).toFixed(0)} ` +
        `(expected to first hit ≈ ${Math.round(64512 / sockets)}); wall ${Math.round(performance.now() - t0)} ms`,
    );
  }
  stun.child.kill('SIGKILL');
  process.stdout.write(
    `birthday probing, netsim, ${sockets} hard-side sockets, budget ${budget} probes at ` +
      `${4 / paceMs} probes/ms, 20 s limit, ${runs} attempts per cell, ${parallel} pairs in parallel; ` +
      `load ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}\n` +
      lines.join('\n') +
      '\n',
  );
} finally {
  for (const a of agents) a.kill();
  await lab.destroy();
}
