/**
 * Presence and the control plane between WebSocket peers: who watches whom, forwarding of
 * rendezvous candidates, and coordinated punch starts. Control frames are best effort: when a
 * connection's send buffer is full they are dropped and counted (reason `queue_full`), unlike
 * notifications, which wait in the mailbox.
 */
import type { ServerMessage, Transport } from './protocol.js';
import type { SignalingMetrics } from './metrics.js';
import type { Clock } from '../util/clock.js';

/** What presence needs of a WebSocket connection. */
export interface ControlChannel {
  readonly peer: string;
  /** Smoothed round-trip time in ms (from WebSocket ping/pong), 0 if not yet measured. */
  readonly rttMs: number;
  /** Queue a control frame; false when dropped for backpressure. */
  control(m: ServerMessage): boolean;
}

export class Presence {
  readonly #conns = new Map<string, ControlChannel>();
  readonly #watchers = new Map<string, Set<ControlChannel>>();
  readonly #watching = new Map<ControlChannel, Set<string>>();
  readonly #online = new Map<string, Transport>();
  readonly #metrics: SignalingMetrics;
  readonly #clock: Clock;
  readonly #punchLeadMs: number;
  /**
   * Told of every rendezvous frame forwarded (the relay hooks rendezvous recording here, so that
   * it can admit TURN permissions only between peers in rendezvous; src/signaling/rendezvous.ts).
   */
  onForward: (from: string, to: string) => void = () => {};

  constructor(o: { metrics: SignalingMetrics; clock: Clock; punchLeadMs: number }) {
    this.#metrics = o.metrics;
    this.#clock = o.clock;
    this.#punchLeadMs = o.punchLeadMs;
  }

  isOnline(peer: string): Transport | undefined {
    return this.#online.get(peer);
  }

  get onlineCount(): number {
    return this.#online.size;
  }

  /** Delivery tells us when a peer's session starts or ends (any transport). */
  setOnline(peer: string, online: boolean, transport: Transport | undefined): void {
    if (online && transport) this.#online.set(peer, transport);
    else this.#online.delete(peer);
    for (const w of this.#watchers.get(peer) ?? []) {
      this.#sendTo(w, { type: 'presence', peer, online, ...(transport ? { transport } : {}) });
    }
  }

  /** A WebSocket connection of `c.peer` is ready for control frames. */
  addChannel(c: ControlChannel): void {
    this.#conns.set(c.peer, c);
  }

  removeChannel(c: ControlChannel): void {
    if (this.#conns.get(c.peer) === c) this.#conns.delete(c.peer);
    this.watch(c, []);
    this.#watching.delete(c);
  }

  channel(peer: string): ControlChannel | undefined {
    return this.#conns.get(peer);
  }

  /** Replace what `c` watches; it is told the current state of each newly watched peer. */
  watch(c: ControlChannel, peers: readonly string[]): void {
    const before = this.#watching.get(c) ?? new Set<string>();
    const after = new Set(peers);
    for (const p of before) {
      if (after.has(p)) continue;
      const set = this.#watchers.get(p);
      set?.delete(c);
      if (set?.size === 0) this.#watchers.delete(p);
    }
    for (const p of after) {
      if (before.has(p)) continue;
      let set = this.#watchers.get(p);
      if (!set) this.#watchers.set(p, (set = new Set()));
      set.add(c);
      const t = this.#online.get(p);
      this.#sendTo(c, {
        type: 'presence',
        peer: p,
        online: t !== undefined,
        ...(t ? { transport: t } : {}),
      });
    }
    if (after.size > 0) this.#watching.set(c, after);
    else this.#watching.delete(c);
  }

  /** Forward a control frame to `to`'s WebSocket; false if `to` has none. */
  forward(to: string, m: ServerMessage): boolean {
    const c = this.#conns.get(to);
    if (!c) return false;
    if (m.type === 'candidates') this.onForward(m.from, to);
    this.#sendTo(c, m);
    return true;
  }

  /**
   * Coordinated punch start: both sides begin probing at the same server instant, far enough
   * ahead that the later of the two `punch-start` frames has arrived (half of each RTT plus a
   * lead). Clock offsets cancel because each side converts `at` using the `welcome.time` offset.
   * Returns false if `to` has no WebSocket.
   */
  punch(from: ControlChannel, to: string, rid: string): boolean {
    const other = this.#conns.get(to);
    if (!other) return false;
    this.onForward(from.peer, to);
    const rtt = Math.max(from.rttMs, other.rttMs);
    const at = Math.round(this.#clock.now() + rtt / 2 + this.#punchLeadMs);
    this.#sendTo(from, { type: 'punch-start', from: to, rid, at, rtt });
    this.#sendTo(other, { type: 'punch-start', from: from.peer, rid, at, rtt });
    return true;
  }

  #sendTo(c: ControlChannel, m: ServerMessage): void {
    if (!c.control(m)) this.#metrics.drops.inc({ reason: 'queue_full', type: m.type });
  }
}
