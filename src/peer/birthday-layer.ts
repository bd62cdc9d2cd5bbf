/**
 * The Peer's side of the hard-NAT step (issue 11): what it knows of its own NAT, and the hard
 * side of birthday probing.
 *
 * Facts (sent in every `candidates` / `offer` frame, punch/nat-facts.ts): the mapping behaviour
 * and the port-allocation pattern that the prediction layer measured at start-up (and the
 * filtering, when serve's STUN has an RFC 5780 alternate address), and whether the
 * portmap layer holds a router mapping. Unknown until measured: a punch before that is the
 * ordinary one.
 *
 * Port prediction: the prediction layer's reserved socket and its punch bookkeeping
 * (prediction-layer.ts), passed through: this object is the connector's one set of hooks.
 *
 * Birthday hard side: opens `sockets` fresh UDP sockets (default 256, Tailscale's number:
 * punch/birthday.ts for the probability), sends from each toward the easy side's mapped address
 * so that the NAT opens 256 random ports toward it, and hands the connector the first socket a
 * probe from the easy side reached; every other socket is closed at once. One run at a time per
 * Peer: 256 descriptors each, and two at once would only share the NAT's table. A second run
 * waits for the first to end (a glare-dropped punch's run is cancelled within a signaling round
 * trip); the waiters are bounded by the connector's sessions (PUNCH_LIMITS.maxSessions).
 */
import type { Endpoint, UdpNetwork, UdpSocket } from '../net/udp.js';
import { DEFAULT_HARD_SOCKETS, runHardSide } from '../punch/birthday.js';
import type { HardNatHooks } from '../punch/hard-nat-step.js';
import type { WireNatFacts } from '../punch/nat-facts.js';
import type { PredictionFacts } from './prediction-layer.js';
import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';

export interface BirthdayLayerOptions {
  net: UdpNetwork;
  clock: Clock;
  logger: Logger;
  /** The prediction layer's measurement (mapping, allocation, reserved port), if made. */
  measured: () => PredictionFacts | undefined;
  /** The prediction layer's side of a punch (prediction-layer.ts), passed through. */
  prediction?: Pick<HardNatHooks, 'claimPreserved' | 'punchStarted' | 'punchEnded'>;
  /** The router granted a public port mapping for the punch socket. */
  portMapped: () => boolean;
  /** Sockets the hard side opens (1..1024). Default 256. */
  sockets?: number;
}

export class BirthdayLayer implements HardNatHooks {
  readonly #o: BirthdayLayerOptions;
  /** The run in progress ends: the next one may start. */
  #tail: Promise<void> = Promise.resolve();
  readonly #aborts = new Set<AbortController>();
  #closed = false;

  constructor(o: BirthdayLayerOptions) {
    this.#o = o;
  }

  claimPreserved(port: number): UdpSocket | undefined {
    return this.#closed ? undefined : this.#o.prediction?.claimPreserved?.(port);
  }

  punchStarted(o: { peer: string }): void {
    this.#o.prediction?.punchStarted?.(o);
  }

  punchEnded(o: { direct: boolean; peer: string }): void {
    this.#o.prediction?.punchEnded?.(o);
  }

  facts(): WireNatFacts | undefined {
    const m = this.#o.measured();
    const mapped = this.#o.portMapped();
    if (!m && !mapped) return undefined;
    return { ...m, ...(mapped ? { portMapping: true } : {}) };
  }

  async birthdayHard(
    easy: Endpoint,
    o: { limitMs: number; signal: AbortSignal },
  ): Promise<{ socket: UdpSocket; remote: Endpoint } | undefined> {
    const prev = this.#tail;
    let release!: () => void;
    this.#tail = new Promise((r) => (release = r));
    const abort = new AbortController();
    this.#aborts.add(abort);
    const onAbort = (): void => abort.abort();
    o.signal.addEventListener('abort', onAbort, { once: true });
    try {
      await prev;
      if (this.#closed || o.signal.aborted) return undefined;
      const r = await runHardSide(
        { net: this.#o.net, clock: this.#o.clock },
        easy,
        { hardSockets: this.#o.sockets ?? DEFAULT_HARD_SOCKETS, timeLimitMs: o.limitMs },
        abort.signal,
      );
      if (!r) return undefined;
      if (this.#closed) {
        await r.socket.close();
        return undefined;
      }
      this.#o.logger.debug('birthday: a probe got through', {
        remote: `${r.remote.address}:${r.remote.port}`,
        sent: r.probesSent,
        ms: r.elapsedMs,
      });
      return { socket: r.socket, remote: r.remote };
    } finally {
      o.signal.removeEventListener('abort', onAbort);
      this.#aborts.delete(abort);
      release();
    }
  }

  /** Ends a run in progress (its sockets close); the path a run produced is the session's. */
  close(): void {
    this.#closed = true;
    for (const a of this.#aborts) a.abort();
  }
}
