/**
 * Fuzz the STUN decoder with 1,000,000 random and mutated inputs (issue 3): no crash, no hang,
 * only StunDecodeError. Run: `npm run build && node dist/bench/stun-fuzz.js [count] [seed]`.
 */
import { fuzzStunDecoder } from './lib/stun-fuzz.js';

const count = Number(process.argv[2] ?? 1_000_000);
const seed = Number(process.argv[3] ?? Date.now() % 0x7fffffff);
const t0 = performance.now();
const r = fuzzStunDecoder(count, seed);
const s = (performance.now() - t0) / 1000;
console.log(
  `stun-fuzz: ${r.inputs} inputs (seed ${seed}) in ${s.toFixed(1)} s: ${r.ok} decoded, ${r.rejected} rejected ` +
    `with StunDecodeError, 0 other errors; slowest input ${r.maxMicros.toFixed(0)} µs`,
);
