/**
 * The Peer's port prediction (issue 11): once, when the punch layer starts, a few fresh
 * sockets measure this NAT's port allocation against serve's STUN server
 * (allocation-probe.ts, DEFAULT_ALLOCATION_SAMPLES bindings, in the background: the first
 * candidates never wait for it). If the allocation is sequential, the socket's candidates gain
 * the predicted server-reflexive ones (punch/predicted-candidates.ts) from the next gather on;
 * `onReady` asks the connector to re-gather (and re-register its offer with serve).
 *
 * Measured once: each punch moves a sequential NAT's counter, so the prediction fits the first
 * punch after start-up (or after the counter came back round); later punches on a sequential ×
 * sequential pair end on the relay as before. Not measured again per punch because a
 * measurement during a running punch would itself take the ports the peer is probing.
 */
import type { Endpoint, UdpNetwork } from '../net/udp.js';
import type { Candidate } from '../punch/candidates.js';
import { measureAllocation, type AllocationMeasurement } from '../punch/allocation-probe.js';
import { predictedCandidates } from '../punch/predicted-candidates.js';
import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import type { WireNatFacts } from '../punch/nat-facts.js';

export interface PredictionLayerOptions {
  net: UdpNetwork;
  clock: Clock;
  logger: Logger;
  /** serve's STUN server (the relay's address). */
  server: Endpoint;
  /** The measurement found a predictable allocation: re-gather. */
  onReady: () => void;
}

/** One binding's wait; a lost one means no prediction, not a retry loop. */
const MEASURE_TIMEOUT_MS = 2_000;
/**
 * serve's STUN port (its `--stun-port` default, RFC 8489 §9) on the relay's host: the second
 * destination that tells an endpoint-independent mapping from an address-and-port-dependent one
 * (allocation-probe.ts). Another port there only leaves the mapping unknown.
 */
const SERVE_STUN_PORT = 3478;

export class PredictionLayer {
  #measured: AllocationMeasurement | undefined;
  #closed = false;

  constructor(o: PredictionLayerOptions) {
    measureAllocation({
      net: o.net,
      clock: o.clock,
      server: o.server,
      ...(o.server.port !== SERVE_STUN_PORT
        ? { second: { address: o.server.address, port: SERVE_STUN_PORT } }
        : {}),
      timeoutMs: MEASURE_TIMEOUT_MS,
    }).then(
      (m) => {
        if (this.#closed) return;
        this.#measured = m;
        o.logger.info('port allocation measured', {
          pattern: m.pattern.kind,
          ...(m.mapping ? { mapping: m.mapping } : {}),
          ...(m.pattern.kind === 'sequential' ? { delta: m.pattern.delta } : {}),
        });
        o.onReady(); // the facts (and for a sequential NAT the predicted ports) join the offer
      },
      (err: unknown) => o.logger.debug('port allocation not measured', { err: String(err) }),
    );
  }

  /** The measurement as NAT facts (punch/nat-facts.ts), once made. */
  facts(): Pick<WireNatFacts, 'mapping' | 'allocation' | 'delta'> | undefined {
    const m = this.#measured;
    if (!m || this.#closed) return undefined;
    return {
      ...(m.mapping ? { mapping: m.mapping } : {}),
      allocation: m.pattern.kind,
      ...(m.pattern.kind === 'sequential' ? { delta: m.pattern.delta } : {}),
    };
  }

  /** Predicted candidates for the socket whose gathered candidates are `gathered`. */
  candidates(gathered: readonly Candidate[]): Candidate[] {
    const m = this.#measured;
    if (!m || this.#closed) return [];
    return predictedCandidates({
      pattern: m.pattern,
      // The second destination's mapping came last: the next one follows it.
      samplePorts: [
        ...m.samples.map((s) => s.mappedPort),
        ...(m.secondMappedPort !== undefined ? [m.secondMappedPort] : []),
      ],
      gathered,
    });
  }

  close(): void {
    this.#closed = true;
  }
}
