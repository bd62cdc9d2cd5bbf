/**
 * Bench-only experiment (bench/punch-latency.ts `--prewarm`): what gathering candidates when the
 * punch layer is made — instead of inside each `connect` / answer — would save. Imported by
 * test/support/ladder-peer.mjs before any Peer exists when NATPUSH_BENCH_PREWARM=1.
 *
 * `PunchConnector`'s constructor subscribes to its gatherer's `onRelayChange` (connector.ts), so
 * that call marks a new gatherer: it starts gathering at once (STUN Binding for the srflx
 * candidate and the TURN Allocate, in parallel), and the first `gather()` after it takes that
 * result if it is younger than WARM_MS. The allocation is kept by the gatherer anyway (later
 * gathers reuse it); what moves off the critical path is the Allocate exchange (2 round trips to
 * the relay) and one STUN round trip, on both sides. g-peer makes the punch layer when a link
 * to a peer is created (ping start at A, the first session datagram at B), so the warm-up runs
 * while the key lookup and the Noise handshake cross the server.
 */
import { CandidateGatherer, type Candidate } from '../../src/punch/candidates.js';

/** A warm srflx is the socket's current mapping while the NAT keeps it (≥ 30 s on Linux). */
const WARM_MS = 20_000;

const warm = new WeakMap<CandidateGatherer, { at: number; result: Promise<Candidate[]> }>();
const gather = CandidateGatherer.prototype.gather;
const onRelayChange = CandidateGatherer.prototype.onRelayChange;

CandidateGatherer.prototype.onRelayChange = function (this: CandidateGatherer, cb) {
  const off = onRelayChange.call(this, cb);
  if (!warm.has(this)) {
    const result = gather.call(this);
    result.catch(() => {});
    warm.set(this, { at: Date.now(), result });
  }
  return off;
};

CandidateGatherer.prototype.gather = function (this: CandidateGatherer, signal?: AbortSignal) {
  const w = warm.get(this);
  if (w && Date.now() - w.at < WARM_MS) {
    w.at = -Infinity; // once: later gathers ask the servers again
    return w.result;
  }
  return gather.call(this, signal);
};
