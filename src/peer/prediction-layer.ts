/**
 * The Peer's port prediction (issue 11): once, when the punch layer starts, a few fresh
 * sockets measure this NAT's port allocation against serve's STUN server
 * (allocation-probe.ts, DEFAULT_ALLOCATION_SAMPLES bindings, in the background: the first
 * candidates never wait for it). If the allocation is sequential, the socket's candidates gain
 * the predicted server-reflexive ones (punch/predicted-candidates.ts) from the next gather on;
 * `onReady` asks the connector to re-gather (and re-register its offer with serve).
 *
 * After each punch (`punchEnded`): its checks made new mappings, so a sequential NAT's counter
 * moved past the prediction. One fresh socket asks serve's STUN server for its mapping — the
 * mapping seen then is the counter's position — and the predicted ports follow it from the next
 * gather on; a re-punch after a relay-ended punch (the peer link retries in 5 s) predicts right.
 * Not during a punch of ours that is still running: that measurement would take the ports the
 * peer is probing; it waits until no punch is running.
 *
 * A "random" reading is measured again after a punch ends (none running), at most twice: a
 * predictable NAT measured while other mappings were made on it (this Peer's checks to new
 * addresses, consent to other peers, another host) has uneven steps between its samples and
 * reads as random, and would otherwise stay so for the Peer's life.
 *
 * NAT filtering (RFC 4787 §5): when serve's STUN names an RFC 5780 alternate address
 * (`serve --stun-alternate`), one more socket runs the filtering test (stun/nat-filtering.ts) and
 * the facts carry the answer; without it they say nothing and the other side assumes the worst.
 *
 * How many ports: four on a quiet NAT, more when the measurement saw other hosts' mappings
 * between its samples (punch/prediction-window.ts: wide enough for the mappings others make
 * before our checks, bounded at 20).
 *
 * Port-preserving symmetric NAT (the measurement saw preserving allocation and an
 * address-and-port-dependent mapping): a fresh socket's first mapping keeps its local port,
 * whatever the destination. One such socket is reserved, never used, its port sent as `preservedPort` in the
 * NAT facts; the punch that uses it takes it (`claim`) and the next one is reserved at once.
 */
import type { Endpoint, UdpNetwork, UdpSocket } from '../net/udp.js';
import type { Candidate } from '../punch/candidates.js';
import { measureAllocation, type AllocationMeasurement } from '../punch/allocation-probe.js';
import { predictedCandidates } from '../punch/predicted-candidates.js';
import { foreignAllocationRate, predictionWindow } from '../punch/prediction-window.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import type { AllocationPattern } from '../punch/port-prediction.js';
import type { Logger } from '../util/logger.js';
import type { WireNatFacts } from '../punch/nat-facts.js';
import type { Dependence } from '../punch/hard-nat-plan.js';
import {
  bindOnce,
  filteringSocket,
  MEASURE_TIMEOUT_MS,
  type FilteringSocket,
} from './fresh-binding.js';
import { probeFiltering } from '../stun/nat-filtering.js';

/** What the measurements tell the NAT facts (punch/nat-facts.ts). */
export type PredictionFacts = Pick<
  WireNatFacts,
  'mapping' | 'filtering' | 'allocation' | 'delta' | 'preservedPort'
>;

export interface PredictionLayerOptions {
  net: UdpNetwork;
  clock: Clock;
  logger: Logger;
  /** serve's STUN server (the relay's address). */
  server: Endpoint;
  /** The measurement found a predictable allocation: re-gather. */
  onReady: () => void;
}

/**
 * The rate observation's span: long enough to see a few foreign mappings on a NAT busy enough
 * to outrun the base window (≥ 1/s), short enough to be in before most first punches.
 */
const RATE_OBSERVATION_DELAY_MS = 2_000;

/** The last mapping the measurement made (the second destination's comes after the samples). */
function lastSamplePort(m: AllocationMeasurement): number {
  return m.secondMappedPort ?? m.samples[m.samples.length - 1]!.mappedPort;
}

/**
 * serve's STUN port (its `--stun-port` default, RFC 8489 §9) on the relay's host: the second
 * destination that tells an endpoint-independent mapping from an address-and-port-dependent one
 * (allocation-probe.ts). Another port there only leaves the mapping unknown.
 */
const SERVE_STUN_PORT = 3478;

/** Measurements in all: the first and at most two more after "random" readings (`punchEnded`). */
const MAX_MEASUREMENTS = 3;

/**
 * Ports a reserved socket must not have: mappings the NAT made recently hold them as external
 * ports (the preserving NAT then draws a random port instead). The measurement's and the
 * refreshes' mapped ports, the last few only (bounded: a reservation is retried at most this often).
 */
const MAX_AVOIDED_PORTS = 16;

export class PredictionLayer {
  readonly #o: PredictionLayerOptions;
  #measured: AllocationMeasurement | undefined;
  /** The sequential counter's last position seen after a punch (refresh), if any. */
  #lastMapped: number | undefined;
  /** Preserving NAT: the fresh socket whose port the facts name (never sent from). */
  #reserved: UdpSocket | undefined;
  #reserving = false;
  readonly #avoid: number[] = [];
  /** Punches running now (a refresh waits until none is). */
  #running = 0;
  #refreshWanted = false;
  #refreshing = false;
  #closed = false;
  /** RFC 4787 filtering measured against serve's RFC 5780 STUN, if it has an alternate. */
  #filtering: Dependence | undefined;
  /** Sequential NAT: other hosts' mappings per second, seen between the samples. */
  #foreignRate: number | undefined;
  /** When the newest mapping the predictions follow was seen (clock ms). */
  #observedAt = 0;
  /** Punches started in all, and when the measurement was made (a rate needs none between). */
  #punches = 0;
  #punchesAtMeasure = 0;
  #rateTimer: TimerHandle | undefined;
  /** A measurement runs now; how many ran in all (a "random" reading is redone, bounded). */
  #measuring = false;
  #measurements = 0;
  /** Aborted by close(): a measurement under way closes its probe sockets at once. */
  readonly #abort = new AbortController();
  /** The measurement under way (close() waits for its sockets). */
  #measurement: Promise<void | undefined> | undefined;

  constructor(o: PredictionLayerOptions) {
    this.#o = o;
    this.#measure();
  }

  /**
   * Measures the allocation (the constructor; again after a punch when it read "random":
   * `punchEnded`). One at a time.
   */
  #measure(): void {
    const o = this.#o;
    if (this.#measuring || this.#closed) return;
    this.#measuring = true;
    this.#measurements++;
    const second =
      o.server.port !== SERVE_STUN_PORT
        ? { address: o.server.address, port: SERVE_STUN_PORT }
        : undefined;
    this.#measurement = measureAllocation({
      net: o.net,
      clock: o.clock,
      server: o.server,
      ...(second ? { second } : {}),
      timeoutMs: MEASURE_TIMEOUT_MS,
      signal: this.#abort.signal,
    })
      .then(async (m) => {
        // serve's STUN named an RFC 5780 alternate (`serve --stun-alternate`): filtering is
        // measurable. Its socket's first binding is one more mapping, made before the facts go
        // out, so a sequential NAT's predictions follow it.
        const probe = second && m.secondOther ? await filteringSocket(this.#o, second) : undefined;
        if (this.#closed) return void (await probe?.close());
        this.#measured = m;
        for (const x of m.samples) this.#remember(x.mappedPort);
        if (m.secondMappedPort !== undefined) this.#remember(m.secondMappedPort);
        if (probe) {
          this.#remember(probe.mapped.port);
          if (m.pattern.kind === 'sequential') this.#lastMapped = probe.mapped.port;
        }
        this.#observedAt = o.clock.now();
        this.#punchesAtMeasure = this.#punches;
        if (m.pattern.kind === 'sequential') {
          this.#foreignRate = foreignAllocationRate(
            m.samples.filter((x): x is typeof x & { atMs: number } => x.atMs !== undefined),
            m.pattern.delta,
          );
        }
        o.logger.info('port allocation measured', {
          pattern: m.pattern.kind,
          ...(m.mapping ? { mapping: m.mapping } : {}),
          ...(m.pattern.kind === 'sequential'
            ? {
                delta: m.pattern.delta,
                foreignPerSec: Number((this.#foreignRate ?? 0).toFixed(2)),
                window: this.#window(),
              }
            : {}),
        });
        // Only behind a symmetric NAT: a cone's one socket has its endpoint-independent mapping.
        if (m.pattern.kind === 'preserving' && m.mapping === 'address-and-port-dependent')
          void this.#reserve();
        o.onReady(); // the facts (and for a sequential NAT the predicted ports) join the offer
        if (m.pattern.kind === 'sequential') {
          const from = { port: this.#lastMapped ?? lastSamplePort(m), at: this.#observedAt };
          this.#rateTimer = o.clock.setTimeout(
            () => void this.#observeRate(from, m.pattern),
            RATE_OBSERVATION_DELAY_MS,
          );
        }
        if (probe && second && m.secondOther)
          void this.#measureFiltering(probe, second, m.secondOther);
      })
      .catch((err: unknown) => {
        if (!this.#closed) o.logger.debug('port allocation not measured', { err: String(err) });
      })
      .finally(() => (this.#measuring = false));
  }

  /**
   * The foreign allocation rate over a longer span than the samples' few round trips: one fresh
   * binding RATE_OBSERVATION_DELAY_MS after the measurement; every step of the counter beyond our
   * own one mapping is someone else's (prediction-window.ts). Not if a punch ran meanwhile (its
   * checks moved the counter by an unknown count). The binding is also the newest position.
   */
  async #observeRate(
    from: { port: number; at: number },
    pattern: AllocationPattern,
  ): Promise<void> {
    this.#rateTimer = undefined;
    if (this.#closed || pattern.kind !== 'sequential' || this.#punches !== this.#punchesAtMeasure)
      return;
    const port = await bindOnce(this.#o, this.#o.server);
    if (port === undefined || this.#closed || this.#punches !== this.#punchesAtMeasure) return;
    const now = this.#o.clock.now();
    const rate = foreignAllocationRate(
      [
        { mappedPort: from.port, atMs: from.at },
        { mappedPort: port, atMs: now },
      ],
      pattern.delta,
    );
    if (rate === undefined) return;
    this.#foreignRate = rate;
    this.#lastMapped = port;
    this.#observedAt = now;
    this.#remember(port);
    this.#o.logger.info('port allocation rate observed', {
      foreignPerSec: Number(rate.toFixed(2)),
      window: this.#window(),
    });
    // Always: the predictions follow this newer mapping now (our own one moved the counter).
    this.#o.onReady();
  }

  /**
   * RFC 5780 §4.4 against serve's STUN: the answer decides between punching and birthday
   * probing for a cone facing a random-port symmetric NAT (hard-nat-plan.ts). A silence (the
   * probe's full timeout, ~2.75 s) confirms what the facts assume without it (address-and-port-
   * dependent), so only a filter that lets more in re-gathers.
   */
  async #measureFiltering(
    probe: FilteringSocket,
    server: Endpoint,
    other: Endpoint,
  ): Promise<void> {
    try {
      const r = await probeFiltering({ client: probe.client, server, other, clock: this.#o.clock });
      if (this.#closed || r.filtering === 'unknown') return;
      this.#filtering = r.filtering;
      this.#o.logger.info('NAT filtering measured', { filtering: r.filtering });
      if (r.filtering !== 'address-and-port-dependent') this.#o.onReady();
    } catch (err) {
      this.#o.logger.debug('NAT filtering not measured', { err: String(err) });
    } finally {
      await probe.close();
    }
  }

  #remember(port: number): void {
    this.#avoid.push(port);
    if (this.#avoid.length > MAX_AVOIDED_PORTS) this.#avoid.shift();
  }

  /** Binds the next reserved socket (preserving NAT); the facts name it from the next gather. */
  async #reserve(): Promise<void> {
    if (this.#reserving || this.#reserved || this.#closed) return;
    this.#reserving = true;
    const spare: UdpSocket[] = [];
    try {
      for (let i = 0; i < MAX_AVOIDED_PORTS; i++) {
        const socket = await this.#o.net.bindUdp({ port: 0 });
        if (this.#closed) return void (await socket.close());
        if (!this.#avoid.includes(socket.address().port)) {
          this.#reserved = socket;
          this.#o.logger.info('port prediction socket reserved', { port: socket.address().port });
          this.#o.onReady();
          return;
        }
        spare.push(socket); // held until the end, so the next bind gets another port
      }
    } catch (err) {
      this.#o.logger.debug('no socket for port prediction', { err: String(err) });
    } finally {
      this.#reserving = false;
      for (const x of spare) await x.close();
    }
  }

  /** The reserved socket whose port is `port`, handed over once; the next one is reserved. */
  claimPreserved(port: number): UdpSocket | undefined {
    const s = this.#reserved;
    if (!s || this.#closed || s.address().port !== port) return undefined;
    this.#reserved = undefined;
    this.#remember(port);
    void this.#reserve();
    return s;
  }

  /** A punch starts: a refresh waits until it ended. */
  punchStarted(): void {
    this.#running++;
    this.#punches++;
  }

  /**
   * A punch ended: on a sequential NAT, see where the counter is now (one fresh binding) for
   * the next punch's predicted ports — once no other punch is running.
   */
  punchEnded(): void {
    this.#running = Math.max(0, this.#running - 1);
    if (this.#closed) return;
    // A "random" reading may be a predictable NAT measured while other mappings were made on it
    // (this Peer's checks to new addresses, consent, another host): its samples' steps were
    // uneven. Measure again once no punch runs, at most MAX_MEASUREMENTS in all.
    const kind = this.#measured?.pattern.kind;
    if (kind === 'random' && this.#running === 0 && this.#measurements < MAX_MEASUREMENTS)
      return this.#measure();
    if (kind !== 'sequential') return;
    this.#refreshWanted = true;
    if (this.#running === 0) void this.#refresh();
  }

  async #refresh(): Promise<void> {
    if (this.#refreshing || !this.#refreshWanted) return;
    this.#refreshing = true;
    this.#refreshWanted = false;
    try {
      const port = await bindOnce(this.#o, this.#o.server);
      if (port === undefined || this.#closed) return;
      this.#lastMapped = port;
      this.#observedAt = this.#o.clock.now();
      this.#o.logger.info('port allocation refreshed', { lastMapped: port });
      this.#o.onReady();
    } finally {
      this.#refreshing = false;
      // Another punch ended meanwhile and moved the counter again.
      if (this.#refreshWanted && this.#running === 0 && !this.#closed) void this.#refresh();
    }
  }

  /** The measurement as NAT facts (punch/nat-facts.ts), once made. */
  facts(): PredictionFacts | undefined {
    const m = this.#measured;
    if (!m || this.#closed) return undefined;
    const reserved = this.#reserved?.closed === false ? this.#reserved : undefined;
    return {
      ...(m.mapping ? { mapping: m.mapping } : {}),
      ...(this.#filtering ? { filtering: this.#filtering } : {}),
      allocation: m.pattern.kind,
      ...(m.pattern.kind === 'sequential' ? { delta: m.pattern.delta } : {}),
      ...(reserved ? { preservedPort: reserved.address().port } : {}),
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
      ...(this.#lastMapped !== undefined ? { last: this.#lastMapped } : {}),
      gathered,
      window: this.#window(),
    });
  }

  /** Wider on a NAT other hosts keep allocating on (prediction-window.ts). */
  #window(): number {
    return predictionWindow({
      ...(this.#foreignRate !== undefined ? { ratePerSec: this.#foreignRate } : {}),
      ageMs: this.#o.clock.now() - this.#observedAt,
    });
  }

  /** Resolves when the measurement's probe sockets and the reserved socket are closed. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#abort.abort();
    this.#rateTimer?.cancel();
    const r = this.#reserved;
    this.#reserved = undefined;
    await Promise.all([r?.close(), this.#measurement]);
  }
}
