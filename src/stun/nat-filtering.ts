/**
 * RFC 5780 §4.4 filtering test on one socket, shared by `natpush nat-check` (nat-discovery.ts)
 * and the Peer's NAT facts (peer/prediction-layer.ts).
 *
 * The socket sends only to the server's primary address A1:P1 (CHANGE-REQUEST asks it to answer
 * from elsewhere; RFC 5780 §7.2), so the NAT's filter holds exactly one remote endpoint:
 *   change ip+port  answer from A2:P2 gets in → endpoint-independent filtering     (Test II)
 *   change port     answer from A1:P2 gets in → address-dependent (or independent) (Test III)
 *   neither                                   → address-and-port-dependent
 * Both requests go out at once: their answers cannot open the filter for each other (the NAT
 * opens it on outbound packets only), so one probe costs one probe timeout, not two. Whoever
 * calls this has sent on the socket only to A1:P1 (or nothing): traffic toward A2 would open the
 * filter and read as endpoint-independent.
 *
 * A server with an alternate port but no alternate IP tells only "port-dependent or not": an
 * answer to the port change reads as 'unknown' (classifyFiltering), a silence as
 * address-and-port-dependent.
 */
import type { Endpoint } from '../net/udp.js';
import type { RequestOptions, StunClient } from './client.js';
import { DISCOVERY_DEFAULTS } from './constants.js';
import type { Dependence } from './nat-classify.js';
import { classifyFiltering } from './nat-classify.js';

export interface FilteringProbe {
  /** A client on a socket that has talked to nothing but `server` (or nothing yet). */
  client: StunClient;
  /** The server's primary address A1:P1, the one that reported `other`. */
  server: Endpoint;
  /** Its RFC 5780 OTHER-ADDRESS (A2:P2, or A1:P2 when it has an alternate port only). */
  other: Endpoint;
  /** Schedule, abort signal. An aborted probe rejects; an unanswered one is a finding. */
  request?: RequestOptions;
}

export interface FilteringResult {
  filtering: Dependence;
  /** The server has an alternate IP: endpoint-independent and address-dependent told apart. */
  otherIpTested: boolean;
  /** Our mapped address as an answer reported it (undefined when none came in). */
  mapped?: Endpoint;
}

export async function probeFiltering(p: FilteringProbe): Promise<FilteringResult> {
  const otherIpTested = p.other.address !== p.server.address;
  const ask = (change: { ip?: boolean; port?: boolean }) =>
    p.client
      .binding(p.server, {
        ...p.request,
        changeRequest: change,
        // The answer comes from another address or port than the one asked (RFC 5780 §6.1).
        anySource: true,
        padTo: DISCOVERY_DEFAULTS.padRequestTo,
      })
      .catch((err: unknown) => {
        if (p.request?.signal?.aborted) throw err;
        return undefined;
      });
  const [both, port] = await Promise.all([
    otherIpTested ? ask({ ip: true, port: true }) : undefined,
    ask({ port: true }),
  ]);
  const filtering = classifyFiltering({
    ...(otherIpTested ? { fromOtherIpPort: both !== undefined } : {}),
    fromOtherPort: port !== undefined,
  });
  const mapped = both?.mapped ?? port?.mapped;
  return { filtering, otherIpTested, ...(mapped ? { mapped } : {}) };
}
