/**
 * RFC 5780 §4.4 filtering test on one socket, shared by `natpush nat-check` (nat-discovery.ts)
 * and the Peer's NAT facts (peer/prediction-layer.ts).
 *
 * The socket sends only to the server's primary address A1:P1 (CHANGE-REQUEST asks it to answer
 * from elsewhere; RFC 5780 §7.2), so the NAT's filter holds exactly one remote endpoint:
 *   change ip+port  answer from A2:P2 gets in → endpoint-independent filtering     (Test II)
 *   change port     answer from A1:P2 gets in → address-dependent (or independent) (Test III)
 *   neither                                   → address-and-port-dependent
 * All requests go out at once: their answers cannot open the filter for each other (the NAT
 * opens it on outbound packets only), so one probe costs one probe timeout, not two. Whoever
 * calls this has sent on the socket only to A1:P1 (or nothing): traffic toward A2 would open the
 * filter and read as endpoint-independent.
 *
 * When is a silence "filtered"? RFC 5780 runs the tests one after the other, each with the full
 * RFC 5389 timeout (39.5 s); a fixed short timeout (2.75 s, the discovery schedule) read a late
 * answer on a loaded machine as a filter — a wrong NAT type. So Test I runs beside II and III on
 * this socket, unchanged (it passes any filter), and measures how late the server answers now:
 * a silence counts only FILTERING_WAIT.settleMs (at least settleRtts round trips of Test I) after
 * Test I's answer, and never sooner than minMs; requests are retransmitted until then. Without a
 * Test I answer by maxMs the silence says nothing: 'unknown'.
 *
 * A server with an alternate port but no alternate IP tells only "port-dependent or not": an
 * answer to the port change reads as 'unknown' (classifyFiltering), a silence as
 * address-and-port-dependent.
 */
import type { Endpoint } from '../net/udp.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import type { BindingResult, RequestOptions, StunClient } from './client.js';
import { DISCOVERY_DEFAULTS } from './constants.js';
import type { Dependence } from './nat-classify.js';
import { classifyFiltering } from './nat-classify.js';

/** How long the filtering test waits for answers (see the header). */
export const FILTERING_WAIT = {
  /** The discovery schedule's give-up time: an idle machine decides as fast as before. */
  minMs: 2_750,
  /** After Test I's answer: the changed answers left the server with it, give them this long… */
  settleMs: 1_000,
  /** …or this many of Test I's round trips, whichever is longer (a slow server is slow for all). */
  settleRtts: 4,
  /** Never longer: the bound on one filtering test. */
  maxMs: 10_000,
  /** RTO 250 ms doubling, 6 requests (0, 250, 750, 1750, 3750, 7750 ms): a lost request is sent
   *  again while the test still listens (RFC 8489 §6.2.1 with a shorter Rc). */
  retransmission: { rtoMs: 250, maxRequests: 6, lastWaitMultiplier: 16 },
} as const;

export interface FilteringProbe {
  /** A client on a socket that has talked to nothing but `server` (or nothing yet). */
  client: StunClient;
  /** The server's primary address A1:P1, the one that reported `other`. */
  server: Endpoint;
  /** Its RFC 5780 OTHER-ADDRESS (A2:P2, or A1:P2 when it has an alternate port only). */
  other: Endpoint;
  /** The client's clock (the settle timer runs on it). */
  clock: Clock;
  /** Abort signal (an aborted probe rejects; an unanswered one is a finding); a schedule here
   *  replaces FILTERING_WAIT.retransmission. */
  request?: RequestOptions;
}

export interface FilteringResult {
  filtering: Dependence;
  /** The server has an alternate IP: endpoint-independent and address-dependent told apart. */
  otherIpTested: boolean;
  /** Our mapped address as an answer reported it (undefined when none came in). */
  mapped?: Endpoint;
  /** Test I on this socket was answered before the test ended: without it a silence is no
   *  finding (when Tests II and III both answered first, it may not have been needed). */
  testIAnswered: boolean;
}

export async function probeFiltering(p: FilteringProbe): Promise<FilteringResult> {
  const otherIpTested = p.other.address !== p.server.address;
  const caller = p.request?.signal;
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  caller?.addEventListener('abort', onAbort, { once: true });
  const started = p.clock.now();
  const ask = (change?: { ip?: boolean; port?: boolean }) =>
    p.client
      .binding(p.server, {
        retransmission: FILTERING_WAIT.retransmission,
        ...p.request,
        timeoutMs: FILTERING_WAIT.maxMs,
        signal: stop.signal,
        padTo: DISCOVERY_DEFAULTS.padRequestTo,
        // The answer comes from another address or port than the one asked (RFC 5780 §6.1).
        ...(change ? { changeRequest: change, anySource: true } : {}),
      })
      .catch((err: unknown) => {
        if (caller?.aborted) throw err;
        return undefined;
      });
  const testI = ask();
  const both = otherIpTested ? ask({ ip: true, port: true }) : Promise.resolve(undefined);
  const port = ask({ port: true });
  let timer: TimerHandle | undefined;
  let done = false;
  // Resolves when a silence of Tests II and III counts (the header): settleMs after Test I's
  // answer, not before minMs, never after maxMs (also when Test I failed at once).
  const settled = testI.then(
    (r) =>
      new Promise<void>((resolve) => {
        if (done) return resolve(); // decided already (Test I ended by the abort below)
        const now = p.clock.now();
        const settle = r
          ? Math.max(FILTERING_WAIT.settleMs, FILTERING_WAIT.settleRtts * (now - started))
          : Infinity;
        const until = Math.min(
          started + FILTERING_WAIT.maxMs,
          Math.max(started + FILTERING_WAIT.minMs, now + settle),
        );
        timer = p.clock.setTimeout(resolve, Math.max(0, until - now));
      }),
  );
  try {
    await Promise.race([Promise.all([both, port]), settled]);
  } finally {
    done = true;
    timer?.cancel();
    stop.abort(); // what has not answered by now is a silence
    caller?.removeEventListener('abort', onAbort);
  }
  const [first, b, pt] = await Promise.all([testI, both, port]);
  return classify(otherIpTested, first, b, pt);
}

function classify(
  otherIpTested: boolean,
  testI: BindingResult | undefined,
  both: BindingResult | undefined,
  port: BindingResult | undefined,
): FilteringResult {
  // An answer is a finding; a silence only when the server answered Test I on this socket.
  const heard = (r: BindingResult | undefined) => (r ? true : testI ? false : undefined);
  const ipPort = heard(both);
  const portOnly = heard(port);
  const filtering = classifyFiltering({
    ...(otherIpTested && ipPort !== undefined ? { fromOtherIpPort: ipPort } : {}),
    ...(portOnly !== undefined ? { fromOtherPort: portOnly } : {}),
  });
  const mapped = both?.mapped ?? port?.mapped ?? testI?.mapped;
  return {
    filtering,
    otherIpTested,
    testIAnswered: testI !== undefined,
    ...(mapped ? { mapped } : {}),
  };
}
