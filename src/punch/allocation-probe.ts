/**
 * Measures a NAT's port-allocation pattern (port-prediction.ts) with a few extra bindings: each
 * of `samples` fresh sockets asks the STUN server for its mapping, one after the other, so the
 * mappings are made in a known order. Wiring around the pure classifier; the sockets are closed
 * before it returns.
 */
import { systemClock, type Clock } from '../util/clock.js';
import type { Endpoint, UdpNetwork } from '../net/udp.js';
import { StunClient } from '../stun/client.js';
import { DISCOVERY_DEFAULTS } from '../stun/constants.js';
import {
  classifyAllocation,
  type AllocationPattern,
  type AllocationSample,
} from './port-prediction.js';

/** Four samples give three gaps: enough for a majority, few enough to cost ~4 round trips. */
export const DEFAULT_ALLOCATION_SAMPLES = 4;

export interface AllocationMeasurement {
  pattern: AllocationPattern;
  samples: AllocationSample[];
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
  timeoutMs?: number;
}): Promise<AllocationMeasurement> {
  const n = o.samples ?? DEFAULT_ALLOCATION_SAMPLES;
  const samples: AllocationSample[] = [];
  let mapping: AllocationMeasurement['mapping'];
  let secondMappedPort: number | undefined;
  let secondOther: Endpoint | undefined;
  // All sockets stay open until the end: a closed socket's port could be handed out again and
  // meet its own old mapping on the NAT.
  const open: { socket: Awaited<ReturnType<UdpNetwork['bindUdp']>>; client: StunClient }[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const socket = await o.net.bindUdp();
      const client = new StunClient({ socket, ...(o.clock ? { clock: o.clock } : {}) });
      open.push({ socket, client });
      const r = await client.binding(o.server, { timeoutMs: o.timeoutMs ?? 3_000 });
      samples.push({
        localPort: socket.address().port,
        mappedPort: r.mapped.port,
        atMs: (o.clock ?? systemClock).now(),
      });
    }
    const last = open[open.length - 1];
    if (o.second && last) {
      try {
        // Padded (RFC 5780 §7.6) so a server bounding its answers at 2× still names OTHER-ADDRESS.
        const r2 = await last.client.binding(o.second, {
          timeoutMs: o.timeoutMs ?? 3_000,
          padTo: DISCOVERY_DEFAULTS.padRequestTo,
        });
        const first = samples[samples.length - 1]!.mappedPort;
        mapping = r2.mapped.port === first ? 'endpoint-independent' : 'address-and-port-dependent';
        secondMappedPort = r2.mapped.port;
        secondOther = r2.otherAddress;
      } catch {
        // No answer there: the mapping stays unknown; the allocation pattern still holds.
      }
    }
  } finally {
    for (const { socket, client } of open) {
      client.close();
      await socket.close();
    }
  }
  return {
    pattern: classifyAllocation(samples),
    samples,
    ...(mapping ? { mapping } : {}),
    ...(secondMappedPort !== undefined ? { secondMappedPort } : {}),
    ...(secondOther ? { secondOther } : {}),
  };
}
