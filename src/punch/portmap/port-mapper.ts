/**
 * PortMapper: one port mapping for one local UDP port, by whichever of PCP, NAT-PMP and UPnP-IGD
 * the router speaks. All three are probed at once and the first grant wins (the others are
 * aborted; a late grant for another external port is deleted, one for the same port is the same
 * router rule and is left alone). A NAT-PMP server answering the PCP probe with version 0, or a
 * PCP server answering NAT-PMP with version 2 (RFC 6887 §9), ends that probe and starts the
 * other protocol if it was not running. The grant is renewed at half its lifetime (RFC 6886
 * §3.3, RFC 6887 §11.2.1) and deleted on close.
 *
 * A mapping whose external address is not public (a router behind carrier-grade NAT), or not
 * the address STUN saw when the caller says which that is (double NAT), is useless to a peer:
 * it is deleted again and map() fails with NOT_PUBLIC.
 *
 *   const pm = new PortMapper({ net, clock });
 *   const m = await pm.map(socket.address().port);  // m.external = candidate of top priority
 *   ...
 *   await pm.close();                                // DeletePortMapping / lifetime 0
 */
import type { TimerHandle } from '../../util/clock.js';
import { silentLogger, type Logger } from '../../util/logger.js';
import { sameEndpoint } from '../../net/udp.js';
import {
  DEFAULT_LIFETIME_SEC,
  MIN_RENEW_INTERVAL_MS,
  PROBE_TIMEOUT_MS,
  RENEW_RETRY_MS,
} from './constants.js';
import { PORTMAP_ERR, PortmapError } from './errors.js';
import { defaultGateway } from './gateway.js';
import { nodeHttpClient } from './http-client.js';
import { makeDriver } from './make-driver.js';
import type { GrantedMapping, MapRequest, PortmapDriver, PortmapProtocolName } from './types.js';
import {
  uselessBecause,
  type MapOptions,
  type PortMapperOptions,
  type PortMapping,
  type ProbeOutcome,
} from './port-mapper-options.js';

export class PortMapper {
  readonly #o: PortMapperOptions;
  readonly #log: Logger;
  readonly #drivers = new Map<PortmapProtocolName, PortmapDriver>();
  readonly #inflight = new Set<AbortController>();
  readonly #listeners = new Set<(m: PortMapping | undefined) => void>();
  #mapping: PortMapping | undefined;
  #driver: PortmapDriver | undefined;
  #request: MapRequest | undefined;
  #renewTimer: TimerHandle | undefined;
  #closed = false;
  /** Per protocol, the outcome of the last map() (nat-check prints it). */
  readonly outcomes = new Map<PortmapProtocolName, ProbeOutcome>();

  constructor(o: PortMapperOptions) {
    this.#o = o;
    this.#log = o.logger ?? silentLogger;
    const timeoutMs = o.probeTimeoutMs ?? PROBE_TIMEOUT_MS;
    if (o.drivers) {
      for (const d of o.drivers) this.#drivers.set(d.name, d);
      return;
    }
    const gw = o.gateway !== undefined ? undefined : defaultGateway();
    this.#gateway = o.gateway ?? gw?.gateway;
    this.#localAddress = o.localAddress ?? gw?.localAddress;
    this.#timeoutMs = timeoutMs;
    for (const name of o.protocols ?? (['pcp', 'natpmp', 'upnp'] as const)) {
      const d = this.#makeDriver(name);
      if (d) this.#drivers.set(name, d);
    }
  }

  #gateway: string | undefined;
  #localAddress: string | undefined;
  #timeoutMs = PROBE_TIMEOUT_MS;

  #makeDriver(name: PortmapProtocolName): PortmapDriver | undefined {
    return makeDriver(name, {
      net: this.#o.net,
      clock: this.#o.clock,
      timeoutMs: this.#timeoutMs,
      http: this.#o.http ?? nodeHttpClient,
      ...(this.#gateway !== undefined ? { gateway: this.#gateway } : {}),
      ...(this.#localAddress !== undefined ? { localAddress: this.#localAddress } : {}),
    });
  }

  /** The live mapping, if any. */
  get mapping(): PortMapping | undefined {
    return this.#mapping;
  }

  /** Called when the mapping changes on renewal (new port) or is lost (undefined). */
  onChange(fn: (m: PortMapping | undefined) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /**
   * Maps `internalPort` (UDP). Rejects with PortmapError: NO_GATEWAY (nobody granted; the
   * message says why per protocol), NOT_PUBLIC (granted, but useless; deleted again), CLOSED.
   */
  map(internalPort: number, opts: MapOptions = {}): Promise<PortMapping> {
    const p = this.#map(internalPort, opts);
    this.#mapRace = p.catch(() => undefined);
    return p;
  }

  async #map(internalPort: number, opts: MapOptions): Promise<PortMapping> {
    if (!Number.isInteger(internalPort) || internalPort < 1 || internalPort > 65535) {
      throw new RangeError(`internal port must be 1..65535, got ${internalPort}`);
    }
    if (this.#mapping || this.#request) throw new TypeError('PortMapper maps one port; close it');
    this.#alive();
    const req: MapRequest = {
      protocol: 'udp',
      internalPort,
      suggestedExternalPort: opts.suggestedExternalPort ?? internalPort,
      lifetimeSec: this.#o.lifetimeSec ?? DEFAULT_LIFETIME_SEC,
    };
    this.#request = req;
    let won: { driver: PortmapDriver; m: GrantedMapping };
    try {
      won = await this.#race(req);
    } catch (e) {
      this.#request = undefined;
      throw e;
    }
    if (this.#closed) {
      // close() came while the router was granting: the grant would outlive us as an orphan
      // (renewed by nobody, deleted by nobody until its lifetime ends). Delete it now; close()
      // waits for this (#mapRace).
      this.#request = undefined;
      await this.#unmapQuietly(won.driver, won.m);
      throw new PortmapError(PORTMAP_ERR.CLOSED, 'PortMapper closed while mapping');
    }
    const why = uselessBecause(won.m, opts.reflexiveAddress);
    if (why !== undefined) {
      this.#request = undefined;
      await this.#unmapQuietly(won.driver, won.m);
      throw new PortmapError(PORTMAP_ERR.NOT_PUBLIC, `${won.m.via}: ${why}`);
    }
    this.#driver = won.driver;
    this.#mapping = { ...won.m, grantedAt: this.#o.clock.now() };
    this.#log.info('port mapping granted', {
      via: won.m.via,
      external: `${won.m.external.address}:${won.m.external.port}`,
      internalPort,
      lifetimeSec: won.m.lifetimeSec,
    });
    this.#scheduleRenew(this.#renewDelay(won.m.lifetimeSec));
    return this.#mapping;
  }

  /**
   * What the router offers: every protocol's harmless probe at once (see PortmapDriver.probe),
   * each outcome kept in `outcomes`. Resolves the drivers in the order they answered.
   */
  async probe(): Promise<Map<PortmapProtocolName, ProbeOutcome>> {
    this.#alive();
    await this.#probeAll(() => {});
    return this.outcomes;
  }

  /** Starts every probe; `onAnswer` gets each driver that answered, in answer order. */
  #probeAll(onAnswer: (d: PortmapDriver) => void): Promise<void> {
    return new Promise((resolve) => {
      let running = 0;
      const started = new Set<PortmapProtocolName>();
      const start = (d: PortmapDriver): void => {
        if (started.has(d.name) || this.#closed) return;
        started.add(d.name);
        running++;
        const ac = new AbortController();
        this.#inflight.add(ac);
        d.probe(ac.signal)
          .then(
            (r) => {
              this.outcomes.set(d.name, {
                ok: true,
                ...(r.externalAddress ? { externalAddress: r.externalAddress } : {}),
              });
              onAnswer(d);
            },
            (e: unknown) => {
              const code = (e as { code?: string }).code ?? 'ERROR';
              this.outcomes.set(d.name, { ok: false, code, message: (e as Error).message });
              // RFC 6887 §9: the server spoke the other version; make sure that one is tried.
              if (code === PORTMAP_ERR.UNSUPPORTED_VERSION) {
                const other = this.#o.drivers
                  ? this.#drivers.get(d.name === 'pcp' ? 'natpmp' : 'pcp')
                  : this.#fallback(d.name);
                if (other) start(other);
              }
            },
          )
          .finally(() => {
            this.#inflight.delete(ac);
            if (--running === 0) resolve();
          });
      };
      const all = [...this.#drivers.values()];
      if (all.length === 0) resolve();
      for (const d of all) start(d);
    });
  }

  /**
   * Probes all protocols at once, then maps with the first that answered; if that one refuses,
   * the next that answered. Only one protocol ever asks for a mapping, so no duplicate or
   * orphaned grant is left on the router.
   */
  #race(req: MapRequest): Promise<{ driver: PortmapDriver; m: GrantedMapping }> {
    return new Promise((resolve, reject) => {
      const answered: PortmapDriver[] = [];
      const failures: string[] = [];
      let probing = true;
      let mapping = false;
      let done = false;
      const next = (): void => {
        if (done || mapping) return;
        const d = answered.shift();
        if (!d) {
          if (probing) return;
          done = true;
          for (const [name, o] of this.outcomes) {
            if (!o.ok && !failures.some((f) => f.startsWith(`${name}:`))) {
              failures.push(`${name}: ${o.message}`);
            }
          }
          reject(
            new PortmapError(
              this.#closed ? PORTMAP_ERR.CLOSED : PORTMAP_ERR.NO_GATEWAY,
              `no port mapping: ${failures.join('; ') || 'no protocol to try'}`,
            ),
          );
          return;
        }
        if (this.#closed) {
          done = true;
          reject(new PortmapError(PORTMAP_ERR.CLOSED, 'PortMapper closed while mapping'));
          return;
        }
        mapping = true;
        const ac = new AbortController();
        this.#mapInflight.add(ac);
        d.map(req, ac.signal)
          .then(
            (m) => {
              done = true;
              resolve({ driver: d, m });
            },
            (e: unknown) => {
              const code = (e as { code?: string }).code ?? 'ERROR';
              this.outcomes.set(d.name, { ok: false, code, message: (e as Error).message });
              failures.push(`${d.name}: ${(e as Error).message}`);
            },
          )
          .finally(() => {
            this.#mapInflight.delete(ac);
            mapping = false;
            next();
          });
      };
      this.#probing = this.#probeAll((d) => {
        answered.push(d);
        next();
      });
      void this.#probing.then(() => {
        probing = false;
        next();
      });
    });
  }

  #probing: Promise<void> = Promise.resolve();
  /** The running map() (its grant deleted if close() came meanwhile): close() waits for it. */
  #mapRace: Promise<unknown> | undefined;
  /** The mapping request in flight: close() lets it finish (see close) instead of aborting it. */
  readonly #mapInflight = new Set<AbortController>();

  /**
   * Resolves when every probe of the last map() has an outcome (map() itself resolves at the
   * first grant, while slower protocols may still be answering): for reports of what the router
   * offers.
   */
  whenProbed(): Promise<void> {
    return this.#probing;
  }

  /** A driver for the other of NAT-PMP/PCP, built on demand when only one was asked for. */
  #fallback(name: PortmapProtocolName): PortmapDriver | undefined {
    const other = name === 'pcp' ? 'natpmp' : name === 'natpmp' ? 'pcp' : undefined;
    if (!other) return undefined;
    const have = this.#drivers.get(other);
    if (have) return have;
    const d = this.#makeDriver(other);
    if (d) this.#drivers.set(other, d);
    return d;
  }

  #renewDelay(lifetimeSec: number): number {
    return Math.max((lifetimeSec * 1000) / 2, MIN_RENEW_INTERVAL_MS);
  }

  #scheduleRenew(ms: number, retryMs = RENEW_RETRY_MS): void {
    this.#renewTimer?.cancel();
    this.#renewTimer = this.#o.clock.setTimeout(() => void this.#renew(retryMs), ms);
  }

  async #renew(retryMs: number): Promise<void> {
    const d = this.#driver;
    const cur = this.#mapping;
    const req = this.#request;
    if (!d || !cur || !req || this.#closed) return;
    const ac = new AbortController();
    this.#inflight.add(ac);
    try {
      const m = await d.map({ ...req, suggestedExternalPort: cur.external.port }, ac.signal, cur);
      if (this.#closed) return;
      const changed = !sameEndpoint(m.external, cur.external);
      this.#mapping = { ...m, grantedAt: this.#o.clock.now() };
      this.#scheduleRenew(this.#renewDelay(m.lifetimeSec));
      if (changed) this.#emit();
    } catch (e) {
      if (this.#closed) return;
      const expires = cur.grantedAt + cur.lifetimeSec * 1000;
      this.#log.warn('port mapping renewal failed', { via: d.name, err: (e as Error).message });
      if (this.#o.clock.now() + retryMs >= expires) {
        this.#mapping = undefined;
        this.#emit();
        return;
      }
      this.#scheduleRenew(retryMs, retryMs * 2);
    } finally {
      this.#inflight.delete(ac);
    }
  }

  #emit(): void {
    for (const fn of this.#listeners) {
      try {
        fn(this.#mapping);
      } catch (e) {
        this.#log.error('port mapping listener threw', { err: (e as Error).message });
      }
    }
  }

  async #unmapQuietly(d: PortmapDriver, m: GrantedMapping): Promise<void> {
    const ac = new AbortController();
    const t = this.#o.clock.setTimeout(
      () => ac.abort(),
      this.#o.probeTimeoutMs ?? PROBE_TIMEOUT_MS,
    );
    try {
      await d.unmap(m, ac.signal);
    } catch (e) {
      this.#log.warn('port mapping delete failed', { via: d.name, err: (e as Error).message });
    } finally {
      t.cancel();
    }
  }

  /**
   * Deletes the mapping (bounded by the probe timeout) and stops renewing. Idempotent.
   *
   * A mapping request in flight is not aborted: the router may have granted it already and only
   * its answer be on the way, and an aborted request would leave that grant on the router with
   * nobody to delete it (an orphan until its lifetime, 2 h by default, runs out). close() waits
   * for its answer instead — bounded by the driver's own timeout, and by 2 × the probe timeout
   * here — and map() deletes what it granted (see map()). Probes and renewals are aborted.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#renewTimer?.cancel();
    for (const ac of this.#inflight) ac.abort();
    if (this.#mapRace) {
      const limit = 2 * (this.#o.probeTimeoutMs ?? PROBE_TIMEOUT_MS);
      let timer: { cancel(): void } | undefined;
      await Promise.race([
        this.#mapRace,
        new Promise<void>((r) => (timer = this.#o.clock.setTimeout(r, limit))),
      ]);
      timer?.cancel();
      for (const ac of this.#mapInflight) ac.abort();
    }
    const d = this.#driver;
    const m = this.#mapping;
    this.#mapping = undefined;
    if (d && m) await this.#unmapQuietly(d, m);
  }

  #alive(): void {
    if (this.#closed) throw new PortmapError(PORTMAP_ERR.CLOSED, 'PortMapper is closed');
  }
}
