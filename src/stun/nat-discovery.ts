/**
 * NAT behaviour discovery (RFC 5780 §4, and Tailscale netcheck's idea of asking several servers
 * at once). Socket wiring around the pure classifier in nat-classify.ts.
 *
 *   Test I     main socket → every server: reflexive address, OTHER-ADDRESS (requests padded
 *              so the server's amplification bound leaves room for RFC 5780 attributes)
 *   mapping    main socket → A2:P1 and A2:P2 (RFC 5780 §4.3), or A1:P2 if only an alternate
 *              port exists; other servers' answers cross-check address dependence
 *   filtering  a fresh socket (so no earlier traffic opened the filter): Test I, CHANGE-REQUEST
 *              ip+port and port only (§4.4), in parallel; a silence counts only once Test I on
 *              that socket answered and its answers had time to come (nat-filtering.ts)
 *   hairpin    main socket → its own reflexive address; do we receive our own request? (§4.5)
 *   lifetime   optional: sockets go idle for T, then a helper socket asks the server to answer
 *              to their port with RESPONSE-PORT (§4.6); alive if it gets in
 * All probes run concurrently where independent; a check finishes in about one probe timeout.
 * Every probe is a transaction of the STUN engine (transaction.ts) on DISCOVERY_DEFAULTS'
 * schedule (RFC 8489 §6.2.1 with a 250 ms RTO: 0, 250, 750, 1750 ms, give up at 2.75 s); the
 * mapping and hairpin probes wait at least two of Test I's round trips after their last request
 * (#afterTestI), the filtering test on its own (FILTERING_WAIT: as long as the server is slow,
 * 10 s at most).
 */
import type { Endpoint, UdpNetwork, UdpSocket } from '../net/udp.js';
import { sameEndpoint } from '../net/udp.js';
import type { Clock } from '../util/clock.js';
import { systemClock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import { silentLogger } from '../util/logger.js';
import type { BindingResult, RetransmissionOptions } from './client.js';
import { StunClient } from './client.js';
import { StunTransactions } from './transaction.js';
import { Attr } from './attribute-type.js';
import { DISCOVERY_DEFAULTS } from './constants.js';
import { StunMessageBuilder } from './message-builder.js';
import { BINDING_REQUEST } from './message-type.js';
import type { Dependence } from './nat-classify.js';
import { classifyMapping, natKind, punchOutlook } from './nat-classify.js';
import { probeFiltering } from './nat-filtering.js';
import type { NatReport, ServerResult } from './nat-report-types.js';

export type { NatReport, PortMappingReport, ServerResult } from './nat-report-types.js';

export interface NatDiscoveryOptions {
  net: UdpNetwork;
  /** STUN servers; the first one that reports OTHER-ADDRESS drives the RFC 5780 tests. */
  servers: Endpoint[];
  clock?: Clock;
  logger?: Logger;
  /** Address to bind probe sockets to; default the wildcard. */
  bindAddress?: string;
  /** This host's own addresses, to tell "no NAT" from "NAT" (the wildcard hides the source). */
  localAddresses?: string[];
  /** Probe schedule; default DISCOVERY_DEFAULTS.retransmission (gives up after ~2.75 s). */
  retransmission?: Partial<RetransmissionOptions>;
  /** Measure binding lifetime by idling this long at most (e.g. [10_000, 30_000, 60_000]). */
  lifetimeStepsMs?: number[];
  /** Optional STUN-over-TCP probe, to tell "UDP blocked" from "server down". */
  tcpProbe?: (server: Endpoint) => Promise<Endpoint>;
  signal?: AbortSignal;
}

export async function discoverNat(options: NatDiscoveryOptions): Promise<NatReport> {
  if (options.servers.length === 0)
    throw new RangeError('discoverNat needs at least one STUN server');
  return new Discovery(options).run();
}

class Discovery {
  readonly #o: NatDiscoveryOptions;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #retransmission: Partial<RetransmissionOptions>;
  readonly #sockets: UdpSocket[] = [];
  readonly #clients: StunClient[] = [];
  readonly notes: string[] = [];

  constructor(o: NatDiscoveryOptions) {
    this.#o = o;
    this.#clock = o.clock ?? systemClock;
    this.#logger = o.logger ?? silentLogger;
    this.#retransmission = { ...DISCOVERY_DEFAULTS.retransmission, ...o.retransmission };
  }

  async run(): Promise<NatReport> {
    try {
      return await this.#run();
    } finally {
      for (const c of this.#clients) c.close();
      await Promise.all(this.#sockets.map((s) => s.close()));
    }
  }

  async #run(): Promise<NatReport> {
    const main = await this.#open();
    const tcp = this.#o.tcpProbe ? this.#tcp(this.#o.servers[0]!) : Promise.resolve(undefined);
    const servers = await Promise.all(this.#o.servers.map((s) => this.#test1(main, s)));
    const local = main.socket.address();
    const answered = servers.filter((r) => r.mapped);
    if (answered.length === 0) return this.#blocked(servers, local, await tcp);
    const rfc5780 = servers.find(
      (r) => r.mapped && r.otherAddress && !sameEndpoint(r.otherAddress, r.server),
    );
    if (!rfc5780)
      this.notes.push('no server reported OTHER-ADDRESS (RFC 5780): filtering untested');
    const primary = (rfc5780 ?? answered[0])!;
    const probes = this.#afterTestI(primary.rttMs);
    const [mapping, filtering, hairpinning, lifetime] = await Promise.all([
      this.#mapping(main, primary, answered, probes),
      rfc5780 ? this.#filtering(rfc5780) : Promise.resolve('unknown' as const),
      this.#hairpin(main, primary.mapped!, probes),
      this.#o.lifetimeStepsMs?.length
        ? this.#lifetime(primary, this.#o.lifetimeStepsMs)
        : undefined,
    ]);
    const mapped = primary.mapped!;
    const behindNat = this.#behindNat(local, mapped);
    const kind = natKind(behindNat, mapping, filtering);
    const report: NatReport = {
      servers,
      udp: true,
      local,
      mapped,
      behindNat,
      mapping,
      filtering,
      hairpinning,
      portPreservation: mapped.port === local.port,
      mappingVariesByServer: answered.some((r) => !sameEndpoint(r.mapped!, mapped)),
      kind,
      outlook: punchOutlook({ mapping, filtering, udp: true }),
      notes: this.notes,
    };
    const tcpOk = await tcp;
    if (tcpOk !== undefined) report.tcp = tcpOk;
    if (lifetime) report.lifetime = lifetime;
    return report;
  }

  #blocked(servers: ServerResult[], local: Endpoint, tcp: boolean | undefined): NatReport {
    this.notes.push(
      tcp === true
        ? 'no UDP answer from any server, but STUN over TCP works: UDP is blocked'
        : 'no UDP answer from any server (UDP blocked, or every server down)',
    );
    const report: NatReport = {
      servers,
      udp: false,
      local,
      mapping: 'unknown',
      filtering: 'unknown',
      kind: 'udp-blocked',
      outlook: punchOutlook({ mapping: 'unknown', filtering: 'unknown', udp: false }),
      notes: this.notes,
    };
    if (tcp !== undefined) report.tcp = tcp;
    return report;
  }

  async #bind(): Promise<UdpSocket> {
    const socket = await this.#o.net.bindUdp(
      this.#o.bindAddress ? { address: this.#o.bindAddress } : {},
    );
    this.#sockets.push(socket);
    return socket;
  }

  async #open(): Promise<{ socket: UdpSocket; client: StunClient }> {
    const socket = await this.#bind();
    const client = new StunClient({
      socket,
      clock: this.#clock,
      logger: this.#logger,
      retransmission: this.#retransmission,
    });
    this.#clients.push(client);
    return { socket, client };
  }

  /**
   * The schedule of the probes that follow Test I (mapping, hairpin): the discovery schedule,
   * with the wait after the last request stretched to twice the round trip Test I measured.
   * RFC 8489 §6.2.1 waits Rm × RTO after the last request, the RTO being an estimate of the
   * round trip (RFC 6298); with the fixed 250 ms RTO that wait is 1 s, so on a path whose round
   * trip nears it (satellite, a loaded uplink — and these probes run together with the
   * filtering test, queueing behind each other) an answer on its way was read as "no hairpin" or
   * an unknown mapping. Two round trips cover a round trip that doubles; for Test I's usual
   * tens of ms nothing changes (1 s stays), and an unanswered probe costs at most 2 × RTT more.
   * `rttMs` counts from the first request, so after a retransmission it is an overestimate:
   * the wait errs long, never short.
   */
  #afterTestI(rttMs: number | undefined): Partial<RetransmissionOptions> {
    const base = this.#retransmission;
    const rto = base.rtoMs ?? DISCOVERY_DEFAULTS.retransmission.rtoMs;
    const last = base.lastWaitMultiplier ?? DISCOVERY_DEFAULTS.retransmission.lastWaitMultiplier;
    if (rttMs === undefined || 2 * rttMs <= last * rto) return base;
    return { ...base, lastWaitMultiplier: Math.ceil((2 * rttMs) / rto) };
  }

  #binding(
    c: { client: StunClient },
    to: Endpoint,
    extra: {
      changeRequest?: { ip?: boolean; port?: boolean };
      anySource?: boolean;
      retransmission?: Partial<RetransmissionOptions>;
    } = {},
  ): Promise<BindingResult | undefined> {
    const opts = { ...extra, padTo: DISCOVERY_DEFAULTS.padRequestTo, ...this.#signal() };
    return c.client.binding(to, opts).catch((err: unknown) => {
      this.#probeFailed(to, err);
      return undefined;
    });
  }

  async #test1(c: { client: StunClient }, server: Endpoint): Promise<ServerResult> {
    const r = await this.#binding(c, server);
    if (!r) return { server, error: 'no response' };
    const out: ServerResult = { server, mapped: r.mapped, rttMs: r.rttMs };
    if (r.otherAddress) out.otherAddress = r.otherAddress;
    return out;
  }

  async #mapping(
    main: { client: StunClient },
    primary: ServerResult,
    answered: ServerResult[],
    retransmission: Partial<RetransmissionOptions>,
  ): Promise<Dependence> {
    const other = primary.otherAddress;
    const otherServers = answered
      .filter((r) => r !== primary && r.server.address !== primary.server.address)
      .map((r) => r.mapped!);
    if (!other) {
      const m = classifyMapping({ primary: primary.mapped!, otherServers });
      if (m === 'unknown')
        this.notes.push('mapping: need an RFC 5780 server or a second server on another IP');
      return m;
    }
    const p1 = primary.server.port;
    if (other.address === primary.server.address) {
      const otherPort = await this.#binding(main, other, { retransmission });
      return classifyMapping({
        primary: primary.mapped!,
        otherServers,
        ...(otherPort ? { otherPort: otherPort.mapped } : {}),
      });
    }
    const [ip, ipPort] = await Promise.all([
      this.#binding(main, { address: other.address, port: p1 }, { retransmission }),
      this.#binding(main, other, { retransmission }),
    ]);
    return classifyMapping({
      primary: primary.mapped!,
      otherServers,
      ...(ip ? { otherIp: ip.mapped } : {}),
      ...(ipPort ? { otherIpPort: ipPort.mapped } : {}),
    });
  }

  /** RFC 5780 §4.4 from a fresh socket (so no earlier traffic toward A2 opened the filter). */
  async #filtering(server: ServerResult): Promise<Dependence> {
    const fresh = await this.#open();
    const r = await probeFiltering({
      client: fresh.client,
      server: server.server,
      other: server.otherAddress!,
      clock: this.#clock,
      request: this.#signal(),
    });
    if (!r.testIAnswered && r.filtering === 'unknown')
      this.notes.push('filtering: the server did not answer on the filtering socket (Test I)');
    if (!r.otherIpTested)
      this.notes.push(
        'server has an alternate port only: endpoint-independent vs address-dependent filtering untested',
      );
    return r.filtering;
  }

  /** RFC 5780 §4.5: send a Binding request to our own reflexive address and see if it returns. */
  async #hairpin(
    main: { client: StunClient },
    mapped: Endpoint,
    retransmission: Partial<RetransmissionOptions>,
  ): Promise<boolean> {
    const req = new StunMessageBuilder(BINDING_REQUEST).build();
    // The NAT loops the request back with either source (mapped or private), hence acceptEcho.
    const opts = { acceptEcho: true, retransmission, ...this.#signal() };
    return main.client.request(mapped, req, opts).then(
      () => true,
      (err: unknown) => this.#probeFailed(mapped, err),
    );
  }

  /**
   * RFC 5780 §4.6, all steps at once: socket X_i learns its mapping, idles T_i, then socket Y
   * sends a request with RESPONSE-PORT = X_i's mapped port; the answer reaches X_i only if the
   * mapping still exists (the server answers from the address X_i talked to, so filters pass).
   */
  async #lifetime(
    primary: ServerResult,
    steps: number[],
  ): Promise<{ aliveMs?: number; goneMs?: number }> {
    const alive = await Promise.all(steps.map((t) => this.#lifetimeStep(primary.server, t)));
    const result: { aliveMs?: number; goneMs?: number } = {};
    steps.forEach((t, i) => {
      if (alive[i] && (result.aliveMs === undefined || t > result.aliveMs)) result.aliveMs = t;
      if (!alive[i] && (result.goneMs === undefined || t < result.goneMs)) result.goneMs = t;
    });
    return result;
  }

  async #lifetimeStep(server: Endpoint, idleMs: number): Promise<boolean> {
    const x = await this.#open();
    const first = await this.#binding(x, server);
    if (!first) return false;
    await new Promise<void>((resolve) => this.#clock.setTimeout(resolve, idleMs));
    // Y asks, X hears: a transaction sent from Y and fed X's datagrams. The server answers from
    // the address Y (and X) talked to, so the source check still holds.
    const y = await this.#bind();
    const engine = new StunTransactions({
      send: (bytes, to) => y.send(bytes, to),
      clock: this.#clock,
      logger: this.#logger,
      retransmission: this.#retransmission,
    });
    const off = x.socket.onMessage((data, from) => void engine.handle(data, from));
    const req = new StunMessageBuilder(BINDING_REQUEST).addResponsePort(first.mapped.port);
    req.addBytes(Attr.Padding, new Uint8Array(DISCOVERY_DEFAULTS.padRequestTo - 36));
    try {
      await engine.start(server, req.build(), {
        timeoutMs: DISCOVERY_DEFAULTS.lifetimeAnswerWaitMs,
        ...this.#signal(),
      });
      return true;
    } catch (err) {
      return this.#probeFailed(server, err);
    } finally {
      off();
      engine.close();
    }
  }

  #signal(): { signal?: AbortSignal } {
    return this.#o.signal ? { signal: this.#o.signal } : {};
  }

  /** A probe without an answer is a finding, not an error — unless the caller aborted. */
  #probeFailed(to: Endpoint, err: unknown): false {
    this.#logger.debug('nat probe failed', { to, err: String(err) });
    if (this.#o.signal?.aborted) throw err;
    return false;
  }

  async #tcp(server: Endpoint): Promise<boolean> {
    try {
      await this.#o.tcpProbe!(server);
      return true;
    } catch {
      return false;
    }
  }

  #behindNat(local: Endpoint, mapped: Endpoint): boolean {
    const locals = this.#o.localAddresses ?? [local.address];
    return !(locals.includes(mapped.address) && (mapped.port === local.port || local.port === 0));
  }
}
