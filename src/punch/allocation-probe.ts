/**
 * Measures a NAT's port-allocation pattern (port-prediction.ts) with a few extra bindings: each
 * of `samples` fresh sockets asks the STUN server for its mapping, one after the other, so the
 * mappings are made in a known order. Wiring around the pure classifier; the sockets are closed
 * before it returns.
 *
 * Loss: a sample whose requests all go unanswered is not the end of the measurement (one lost
 * sample used to fail it: a netsim CI run). Its socket stays open — its request may have made a
 * mapping that a reused port would meet again — and the next sample comes from a fresh socket,
 * up to `maxLost` extra ones. The classifier is told where the holes are (`attempt`): a lost
 * sample on a sequential NAT may or may not have taken a port. Fewer than MIN_SAMPLES answers
 * fail with NATPUSH_ERR_PUNCH_ALLOCATION_UNMEASURED.
 */
import { systemClock, type Clock } from '../util/clock.js';
import type { Endpoint, UdpNetwork } from '../net/udp.js';
import { StunClient } from '../stun/client.js';
import { DISCOVERY_DEFAULTS } from '../stun/constants.js';
import { StunAbortedError, StunTimeoutError } from '../stun/errors.js';
import { PUNCH_ERR, PunchError } from './errors.js';
import {
  MIN_SAMPLES,
  classifyAllocation,
  type AllocationPattern,
  type AllocationSample,
} from './port-prediction.js';

/** Four samples give three gaps: enough for a majority, few enough to cost ~4 round trips. */
export const DEFAULT_ALLOCATION_SAMPLES = 4;
/**
 * Lost samples replaced by fresh sockets, at most: two holes still leave a majority of clean
 * steps among 4 answers, and a path that loses more than a third of its samples is not worth
 * predicting on. Each lost sample costs one timeout (3 s by default).
 */
export const MAX_LOST_ALLOCATION_SAMPLES = 2;

export interface AllocationMeasurement {
  pattern: AllocationPattern;
  /** The answered samples; `attempt` numbers every socket, so a hole is a lost sample. */
  samples: AllocationSample[];
  /** Samples whose requests all went unanswered (their sockets were replaced). */
  lost: number;
  /**
   * RFC 4787 mapping seen by asking `second` from the last sample's socket (same address, other
   * port): the same mapped endpoint means endpoint-independent (or address-dependent: one server
   * address cannot tell those apart), another one address-and-port-dependent. Undefined when no
   * `second` was given or it did not answer.
   */
  mapping?: 'endpoint-independent' | 'address-and-port-dependent';
  /** The mapped port `second` saw: the last mapping the NAT made (predictions follow it). */
  secondMappedPort?: number;
  /**
   * RFC 5780 OTHER-ADDRESS in `second`'s answer: that server can test filtering
   * (stun/nat-filtering.ts; serve's `--stun-alternate`).
   */
  secondOther?: Endpoint;
}

export async function measureAllocation(o: {
  net: UdpNetwork;
  clock?: Clock;
  server: Endpoint;
  /** Another endpoint of the server that answers Binding (serve's STUN port beside its relay). */
  second?: Endpoint;
  samples?: number;
  /** Lost samples replaced by a fresh socket; default MAX_LOST_ALLOCATION_SAMPLES. */
  maxLost?: number;
  timeoutMs?: number;
  /**
   * Ends the measurement early (the Peer closing): rejects StunAbortedError once every probe
   * socket is closed, instead of waiting for the samples' STUN timeouts.
   */
  signal?: AbortSignal;
}): Promise<AllocationMeasurement> {
  const n = o.samples ?? DEFAULT_ALLOCATION_SAMPLES;
  const maxLost = o.maxLost ?? MAX_LOST_ALLOCATION_SAMPLES;
  if (!Number.isInteger(n) || n < MIN_SAMPLES)
    throw new RangeError(`samples must be an integer >= ${MIN_SAMPLES}`);
  if (!Number.isInteger(maxLost) || maxLost < 0)
    throw new RangeError('maxLost must be an integer >= 0');
  const timeoutMs = o.timeoutMs ?? 3_000;
  const samples: AllocationSample[] = [];
  // All sockets stay open until the end, the lost samples' too: a closed socket's port could be
  // handed out again and meet its own old mapping on the NAT.
  const open: Probe[] = [];
  let lastAnswered: Probe | undefined;
  try {
    for (let attempt = 0; samples.length < n && attempt < n + maxLost; attempt++) {
      if (o.signal?.aborted) throw new StunAbortedError(undefined, { cause: o.signal.reason });
      // Stop as soon as MIN_SAMPLES answers are out of reach.
      if (samples.length + (n + maxLost - attempt) < MIN_SAMPLES) break;
      const socket = await o.net.bindUdp();
      const probe = { socket, client: new StunClient({ socket, ...clockOf(o) }) };
      open.push(probe);
      try {
        const r = await probe.client.binding(o.server, {
          timeoutMs,
          ...(o.signal ? { signal: o.signal } : {}),
        });
        const atMs = (o.clock ?? systemClock).now();
        samples.push({
          localPort: socket.address().port,
          mappedPort: r.mapped.port,
          atMs,
          attempt,
        });
        lastAnswered = probe;
      } catch (err) {
        if (!(err instanceof StunTimeoutError)) throw err;
      }
    }
    if (samples.length < MIN_SAMPLES) {
      throw new PunchError(
        PUNCH_ERR.ALLOCATION_UNMEASURED,
        `port allocation: ${samples.length} of ${open.length} samples answered, need ${MIN_SAMPLES}`,
      );
    }
    const second =
      o.second && lastAnswered ? await askSecond(lastAnswered, o.second, timeoutMs, o.signal) : {};
    if (o.signal?.aborted) throw new StunAbortedError(undefined, { cause: o.signal.reason });
    if (second.mappedPort !== undefined) {
      const first = samples[samples.length - 1]!.mappedPort;
      const mapping =
        second.mappedPort === first ? 'endpoint-independent' : 'address-and-port-dependent';
      return finish(samples, open.length, { ...second, mapping });
    }
    return finish(samples, open.length, {});
  } finally {
    for (const { socket, client } of open) {
      client.close();
      await socket.close();
    }
  }
}

interface Probe {
  socket: Awaited<ReturnType<UdpNetwork['bindUdp']>>;
  client: StunClient;
}

const clockOf = (o: { clock?: Clock }) => (o.clock ? { clock: o.clock } : {});

/** `second`'s answer to the last answered socket (mapping behaviour, OTHER-ADDRESS), if any. */
async function askSecond(
  last: Probe,
  second: Endpoint,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<{ mappedPort?: number; other?: Endpoint }> {
  try {
    // Padded (RFC 5780 §7.6) so a server bounding its answers at 2× still names OTHER-ADDRESS.
    const r = await last.client.binding(second, {
      timeoutMs,
      padTo: DISCOVERY_DEFAULTS.padRequestTo,
      ...(signal ? { signal } : {}),
    });
    return { mappedPort: r.mapped.port, ...(r.otherAddress ? { other: r.otherAddress } : {}) };
  } catch {
    // No answer there: the mapping stays unknown; the allocation pattern still holds.
    return {};
  }
}

function finish(
  samples: AllocationSample[],
  sockets: number,
  second: { mappedPort?: number; other?: Endpoint; mapping?: AllocationMeasurement['mapping'] },
): AllocationMeasurement {
  return {
    pattern: classifyAllocation(samples),
    samples,
    lost: sockets - samples.length,
    ...(second.mapping ? { mapping: second.mapping } : {}),
    ...(second.mappedPort !== undefined ? { secondMappedPort: second.mappedPort } : {}),
    ...(second.other ? { secondOther: second.other } : {}),
  };
}
