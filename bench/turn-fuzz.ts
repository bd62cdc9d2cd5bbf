/**
 * Fuzz the TURN input paths long (issue 5; the STUN loop of issue 3 extended to ChannelData and
 * TURN attributes). Run: `npm run build && node dist/bench/turn-fuzz.js [count] [seed]`.
 */
import { fuzzChannelData, fuzzTurnServer } from './lib/turn-fuzz.js';

const count = Number(process.argv[2] ?? 200_000);
const seed = Number(process.argv[3] ?? Date.now() % 0x7fffffff);
const t0 = performance.now();
const c = fuzzChannelData(count, seed);
console.log(
  `turn-fuzz ChannelData: ${c.inputs} inputs (seed ${seed}): ${c.decoded} decoded, ${c.framed} frames, ` +
    `${c.framingErrors} StreamFramingError, 0 other errors, ${((performance.now() - t0) / 1000).toFixed(1)} s`,
);
const t1 = performance.now();
const s = await fuzzTurnServer(Math.floor(count / 4), seed);
console.log(
  `turn-fuzz server: ${s.inputs} inputs (seed ${seed}): ${s.serverErrors} × 500, ${s.errorLogs.length} error logs, ` +
    `${JSON.stringify(s.counters)}, ${((performance.now() - t1) / 1000).toFixed(1)} s`,
);
if (s.serverErrors > 0 || s.errorLogs.length > 0) {
  console.log(s.errorLogs.slice(0, 10).join('\n'));
  process.exit(1);
}
