/**
 * Fuzz a real `natpush serve` (issue 8, "a fuzz tier") over WebSocket and HTTP while an honest
 * pair of peers keeps notifying each other. Prints the count of every outcome, the failures with
 * their seed and input index, the server's RSS and the time; exits 1 on any failure.
 * Run: `npm run build && node dist/bench/signaling-fuzz.js [count=1000000] [seed]`.
 */
import { formatReport, runSignalingFuzz } from './lib/signaling-fuzz.js';

const count = Number(process.argv[2] ?? 1_000_000);
const seed = Number(process.argv[3] ?? Date.now() % 0x7fffffff);
console.log(`signaling fuzz: ${count} inputs, seed ${seed}`);
const r = await runSignalingFuzz({
  count,
  seed,
  onProgress: (l) => console.log(`  … ${l}`),
});
console.log(formatReport(r));
const bad =
  r.crashed !== undefined ||
  !r.healthy ||
  r.ws.failures.length + r.http.failures.length > 0 ||
  r.honest.missing.length + r.honest.duplicates.length + r.honest.forged.length > 0;
process.exit(bad ? 1 : 0);
