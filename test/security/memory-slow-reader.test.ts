/**
 * Memory against peers that send but never read (issue 8: every per-peer table and buffer
 * bounded). 20 registered peers ask for TURN credentials up to 800 times a second each — under
 * the per-connection rate limit, and never more than the server has caught up with — and never
 * read the answers: the kernel's socket buffers fill, then
 * the server's. A server that bounds what it buffers per connection (and drops or disconnects a
 * peer that does not read, as it already does for presence frames with `maxBufferedBytes`) stays
 * within baseline + 150 MB for the 40 s of the attack, holds no more memory per answered request
 * once the kernel's buffers are full (< 100 bytes per request between 15 s and 40 s, measured
 * after a full GC each time; an unbounded server holds each ~300-byte reply), and comes back near
 * baseline when they leave; the honest pair's notifications arrive exactly once throughout.
 */
import { describe, expect, it } from 'vitest';
import { HonestPair } from '../../bench/lib/fuzz-honest-peer.js';
import { startFuzzServe, type FuzzServe } from '../../bench/lib/fuzz-serve.js';
import { rssSampler } from '../../bench/lib/signaling-fuzz.js';
import { floodKinds, slowReaders } from '../support/hostile-flood.js';

const MB = 2 ** 20;
const PEERS = 20;
const mb = (b: number) => `${(b / MB).toFixed(0)} MB`;

/** RSS after a full GC, and TURN credentials the server has issued so far. */
async function sample(
  serve: FuzzServe,
  gc = true,
): Promise<{ rss: number; issued: number; rateLimited: number }> {
  if (gc && !serve.exit) await serve.gc();
  const rss = serve.rss() ?? 0;
  const m = await (await fetch(`${serve.url}/metrics`)).text();
  const issued = Number(/^natpush_turn_credentials_issued_total (\d+)$/m.exec(m)?.[1] ?? NaN);
  const rateLimited = Number(
    /^natpush_errors_total\{code="NATPUSH_ERR_RATE_LIMITED"\} (\d+)$/m.exec(m)?.[1] ?? 0,
  );
  return { rss, issued, rateLimited };
}

describe('memory against peers that never read', () => {
  it('replies to non-reading peers do not pile up without bound', async () => {
    const serve = await startFuzzServe({ inspect: true });
    try {
      const honest = await HonestPair.start(serve.url);
      honest.run(50);
      await serve.gc();
      const baseline = serve.rss() ?? 0;
      const sampler = rssSampler(serve, 100);
      const kind = floodKinds(honest.receiverId).find((k) => k.name === 'turn-credentials')!;
      let issued = 0;
      const poll = setInterval(() => {
        void sample(serve, false).then(
          (x) => (issued = x.issued),
          () => {},
        );
      }, 250);
      const attack = await slowReaders(serve.url, kind, {
        peers: PEERS,
        perSecond: 800,
        backlog: () => attack.sent() - issued,
      });
      const t0 = Date.now();
      const waitUntil = async (ms: number) => {
        while (Date.now() - t0 < ms && sampler.peak() < baseline + 400 * MB && !serve.exit)
          await new Promise((r) => setTimeout(r, 500));
      };
      // By 15 s the kernel's socket buffers are full: from then on a bounded server holds no
      // more per request, an unbounded one one reply (~300 bytes) more per request it answers.
      await waitUntil(15_000);
      const mid = await sample(serve);
      await waitUntil(40_000);
      const end = await sample(serve);
      const answered = end.issued - mid.issued;
      const perRequest = answered > 0 ? (end.rss - mid.rss) / answered : 0;
      const peak = sampler.peak();
      const sent = attack.sent();
      attack.stop();
      clearInterval(poll);
      sampler.stop();
      await new Promise((r) => setTimeout(r, 2_000));
      if (!serve.exit) await serve.gc();
      const after = serve.rss() ?? 0;
      const h = await honest.finish();
      const report =
        `memory-slow-reader: ${sent} turn-credentials requests from ${PEERS} non-reading peers in ` +
        `${((Date.now() - t0) / 1000).toFixed(0)} s; ` +
        `RSS baseline ${mb(baseline)}, peak ${mb(peak)} (+${mb(peak - baseline)}), after ${mb(after)} ` +
        `(+${mb(after - baseline)}); from 15 s on RSS grew ${perRequest.toFixed(0)} bytes per answered ` +
        `request (${answered} answered${answered === 0 ? ': the server cut the attackers' : ''}; ` +
        `${end.rateLimited} cut for their rate); honest ${h.sent} sent, ${h.missing.length} missing, ` +
        `${h.duplicates.length} duplicates; server ${serve.exit ? `DIED ${JSON.stringify(serve.exit)}` : 'alive'}`;
      process.stdout.write(report + '\n');
      expect(serve.exit, report).toBeUndefined();
      expect(perRequest, report).toBeLessThan(100);
      expect(peak - baseline, report).toBeLessThan(150 * MB);
      expect(after - baseline, report).toBeLessThan(60 * MB);
      expect(h.missing, report).toEqual([]);
      expect(h.duplicates, report).toEqual([]);
    } finally {
      await serve.stop();
    }
  }, 180_000);
});
