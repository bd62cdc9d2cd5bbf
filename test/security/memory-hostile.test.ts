/**
 * Memory under hostile load (issue 8, "a memory test"; finding 2): 100,000 well-formed hostile
 * frames of each kind — acks of ids never in flight, watches of strangers, candidates / punch /
 * p2p to unknown or offline peers, notifications with fresh ids to a victim, TURN credential
 * requests, key requests, pings — each kind from 100 registered peers with fresh keys, against a
 * real `natpush serve`, while an honest pair keeps notifying each other.
 *
 * Bounds (RSS of the serve process, VmRSS of /proc/PID/status):
 * - held ≤ baseline + 150 MB: RSS after a full GC once each kind's flood is over. Every per-peer
 *   and global table is bounded, so hostile traffic may cost buffers and caches but not memory
 *   that grows with the number of frames (the old unbounded ack map grew ~45 KB per ack frame,
 *   finding 2: gigabytes here);
 * - peak ≤ baseline + 300 MB, sampled every 50 ms without a GC: garbage V8 has not collected yet
 *   counts here, so it varies from run to run with GC timing (+97 to +136 MB in eight CI runs, a
 *   bound of 150 MB was within 14 MB of failing); the held bound above is the tight one;
 * - after the attackers leave, RSS comes back to ≤ baseline + 60 MB within 30 s. Serve has no GC
 *   hook, so serve runs with the V8 inspector on a loopback port and the test asks it for a full
 *   GC before each sample (and for the heap in use, reported next to RSS);
 * - the honest peer gets every notification exactly once.
 * NATPUSH_FLOOD_FRAMES changes the 100,000 per kind.
 */
import { describe, expect, it } from 'vitest';
import { HonestPair } from '../../bench/lib/fuzz-honest-peer.js';
import { registerPeer } from '../../bench/lib/fuzz-login.js';
import { startFuzzServe, type FuzzServe } from '../../bench/lib/fuzz-serve.js';
import { rssSampler } from '../../bench/lib/signaling-fuzz.js';
import { flood, floodKinds, type FloodResult } from '../support/hostile-flood.js';

const MB = 2 ** 20;
const FRAMES = Number(process.env.NATPUSH_FLOOD_FRAMES ?? 100_000);
const HELD_BOUND = 150 * MB;
const PEAK_BOUND = 300 * MB;
const AFTER_BOUND = 60 * MB;
/** Stop flooding past this (the test has failed by then; spare the machine). */
const ABORT_ABOVE = 1_500 * MB;

const mb = (b: number) => `${(b / MB).toFixed(0)} MB`;

/**
 * Lowest RSS seen while waiting up to `ms` for it to drop to `target`, a full GC (through the
 * inspector) before each sample: what the server still holds, not what V8 has not returned yet.
 */
async function settleRss(serve: FuzzServe, target: number, ms: number): Promise<number> {
  await serve.gc();
  let low = serve.rss() ?? 0;
  const deadline = Date.now() + ms;
  while (low > target && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 1_000));
    await serve.gc();
    low = Math.min(low, serve.rss() ?? 0);
  }
  return low;
}

describe('memory under hostile frames', () => {
  it(`${FRAMES} frames of each hostile kind from fresh peers: RSS bounded and back near baseline`, async () => {
    const serve = await startFuzzServe({ inspect: true });
    try {
      const victim = await registerPeer(serve.url);
      const honest = await HonestPair.start(serve.url);
      honest.run(50);
      await new Promise((r) => setTimeout(r, 1_000));
      await serve.gc();
      const baseline = serve.rss() ?? 0;
      const heapBefore = await serve.heapUsed();
      const sampler = rssSampler(serve, 50);
      const rows: string[] = [];
      const results: FloodResult[] = [];
      let held = 0;
      for (const kind of floodKinds(victim.peerId)) {
        const r = await flood(serve.url, kind, { total: FRAMES, peers: 100 });
        results.push(r);
        const now = serve.rss() ?? 0;
        if (!serve.exit) await serve.gc();
        const kept = serve.rss() ?? 0;
        held = Math.max(held, kept);
        rows.push(
          `  ${kind.name.padEnd(18)} ${String(r.handled).padStart(7)} handled in ${r.seconds.toFixed(1)} s ` +
            `(${(r.handled / r.seconds).toFixed(0)} frames/s), RSS now ${mb(now)}, after GC ${mb(kept)}, ` +
            `peak so far ${mb(sampler.peak())}${r.cut.length > 0 ? `; cut: ${r.cut[0]}` : ''}`,
        );
        if (serve.exit || sampler.peak() > baseline + ABORT_ABOVE) break;
      }
      const peak = sampler.peak();
      sampler.stop();
      const after = await settleRss(serve, baseline + AFTER_BOUND, 30_000);
      const heapAfter = await serve.heapUsed();
      const h = await honest.finish();
      const report = [
        `memory-hostile: RSS baseline ${mb(baseline)}, held ${mb(held)} (+${mb(held - baseline)}), ` +
          `peak ${mb(peak)} (+${mb(peak - baseline)}), ` +
          `after ${mb(after)} (+${mb(after - baseline)}); V8 heap in use after GC ${mb(heapBefore)} → ${mb(heapAfter)}; ` +
          `server ${serve.exit ? `DIED ${JSON.stringify(serve.exit)}` : 'alive'}`,
        ...rows,
        `  honest: ${h.sent} sent, ${h.received} received, ${h.missing.length} missing, ` +
          `${h.duplicates.length} duplicates, slowest notify ${h.maxLatencyMs} ms`,
      ].join('\n');
      process.stdout.write(report + '\n');
      expect(serve.exit, report).toBeUndefined();
      expect(held - baseline, report).toBeLessThan(HELD_BOUND);
      expect(peak - baseline, report).toBeLessThan(PEAK_BOUND);
      expect(after - baseline, report).toBeLessThan(AFTER_BOUND);
      expect(h.missing, report).toEqual([]);
      expect(h.duplicates, report).toEqual([]);
      expect(h.forged, report).toEqual([]);
    } finally {
      await serve.stop();
    }
  }, 600_000);
});
