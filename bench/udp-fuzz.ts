/**
 * Fuzz a real `natpush serve`'s UDP ports (STUN and the TURN relay) with seeded random and
 * mutated datagrams while an honest pair of peers notifies each other (issue 8, "a fuzz tier").
 * Prints the answers by kind, failures with the seed, RSS and time; exits 1 on any failure.
 * Run: `npm run build && node dist/bench/udp-fuzz.js [count=1000000] [seed]`.
 */
import { formatUdpReport, runUdpFuzz } from './lib/udp-fuzz.js';

const count = Number(process.argv[2] ?? 1_000_000);
const seed = Number(process.argv[3] ?? Date.now() % 0x7fffffff);
console.log(`udp fuzz: ${count} datagrams, seed ${seed}`);
const r = await runUdpFuzz({ count, seed });
console.log(formatUdpReport(r));
const bad =
  r.crashed !== undefined ||
  !r.stunAlive ||
  r.relayAlive !== 'ok' ||
  r.failures.length > 0 ||
  r.errorLogs.length > 0 ||
  r.honest.missing.length + r.honest.duplicates.length + r.honest.forged.length > 0;
process.exit(bad ? 1 : 0);
