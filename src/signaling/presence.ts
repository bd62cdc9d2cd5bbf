/**
 * Presence and the control plane between WebSocket peers: who may see whom (each peer's `allow`
 * list), who watches whom, and the one choke point through which every peer-to-peer frame
 * passes (`forward`: rendezvous candidates, `p2p` datagrams; `punch` uses the same check).
 * Control frames are best effort: when a connection's send buffer is full they are dropped and
 * counted (reason `queue_full`), unlike notifications, which wait in the mailbox.
 *
 * Privacy (issue 8, finding 5). A peer's presence is its own: watcher W sees P online only if
 * P's current `allow` list names W (or says `anyone`); otherwise W sees `online:false`, exactly
 * what it sees for a peer that never registered, and never a change. Frames from X reach P only
 * if P is on a WebSocket and allows X; otherwise they vanish without an answer (an error would
 * tell X that P exists and is online), counted as `rendezvous_refused` — one reason for both
 * "offline" and "not allowed", because /metrics is public and two counters would be an oracle.
 *
 * Several serve nodes (Redis, ../cluster/remote-presence.ts): a peer's allow list stays on the
 * node its WebSocket is on, and every decision that needs it is made there — a frame for a peer
 * on another node is sent to that node, which applies the same check (and counts the same drop);
 * that node also tells remote watchers what they may see (`showRemote`). So the privacy rule is
 * the same across nodes, and allow lists never leave the node that holds them.
 */
import type { Clock } from '../util/clock.js';
import type { SignalingMetrics } from './metrics.js';
import type { ServerMessage, Transport } from './protocol.js';
import type { Removed } from './store/store.js';

/** What presence needs of a WebSocket connection. */
export interface ControlChannel {
  readonly peer: string;
  /** The raw Ed25519 public key (base64url) the connection authenticated with. */
  readonly publicKey: string;
  /** Smoothed round-trip time in ms (from WebSocket ping/pong), 0 if not yet measured. */
  readonly rttMs: number;
  /** Queue a control frame; false when dropped for backpressure. */
  control(m: ServerMessage): boolean;
}

interface AllowList {
  readonly peers: ReadonlySet<string>;
  readonly anyone: boolean;
}

/** What a watcher was last shown of a peer: its transport, or 'offline'. */
export type Shown = Transport | 'offline';

const NOBODY: AllowList = { peers: new Set(), anyone: false };

/**
 * Peers on other serve nodes (../cluster/remote-presence.ts). Presence calls it only for peers
 * that have no WebSocket here; the other node decides, with the rules of this file.
 */
export interface RemotePresence {
  /** `to` is not here: send `m` (from `from`) to `to`'s node, which checks `to`'s allow list. */
  forward(from: string, to: string, m: ServerMessage): void;
  /** `to` is not here: ask `to`'s node to time a coordinated punch with `from`. */
  punch(from: ControlChannel, to: string, rid: string): void;
  /** The sender of `r` is on node `r.fromNode`, and the recipient (here) allows it. */
  delivered(r: Removed, via: Transport): void;
  /** A peer here changed (online, offline, allow list): tell its watchers on other nodes. */
  changed(peer: string): void;
  /** `watcher` (here) now watches `added` and no longer `removed` (peers not here). */
  watch(watcher: string, added: readonly string[], removed: readonly string[]): void;
}

export class Presence {
  /** Each peer's WebSocket (the newest). Bound: WebSocket connections (`maxConnections`). */
  readonly #conns = new Map<string, ControlChannel>();
  /** Each WebSocket's allow list. Bound: WebSocket connections; a list ≤ `maxAllowedPeers`. */
  readonly #allows = new Map<ControlChannel, AllowList>();
  /** Watched peer → its watchers: the reverse of #watching, so the same number of pairs. */
  readonly #watchers = new Map<string, Set<ControlChannel>>();
  /** Watcher → watched peer → what it was last shown. ≤ `maxWatchedPeers` per connection. */
  readonly #watching = new Map<ControlChannel, Map<string, Shown>>();
  /** Peers with a live session on any transport. Bound: delivery routes. */
  readonly #online = new Map<string, Transport>();
  readonly #metrics: SignalingMetrics;
  readonly #clock: Clock;
  readonly #punchLeadMs: number;
  /**
   * Told of every frame `forward` lets through (the relay hooks rendezvous recording here, so
   * that it can admit TURN permissions only between peers in rendezvous).
   */
  onForward: (from: string, to: string) => void = () => {};
  /**
   * Told where a peer on another node connects from, once that node admitted a rendezvous with
   * a peer here (../cluster/remote-presence.ts `g`): the relay's peer gate notes it.
   */
  onRemoteAddress: (peer: string, address: string) => void = () => {};
  /** Set when this node is one of several (Redis); undefined = everything is here. */
  remote: RemotePresence | undefined;

  constructor(o: { metrics: SignalingMetrics; clock: Clock; punchLeadMs: number }) {
    this.#metrics = o.metrics;
    this.#clock = o.clock;
    this.#punchLeadMs = o.punchLeadMs;
  }

  /** The peer's transport if it has a live session, whoever asks (API key, internal use). */
  isOnline(peer: string): Transport | undefined {
    return this.#online.get(peer);
  }

  get onlineCount(): number {
    return this.#online.size;
  }

  /** True when `peer` is on a WebSocket and its allow list admits `other`. */
  allows(peer: string, other: string): boolean {
    const c = this.#conns.get(peer);
    if (!c) return false;
    const a = this.#allows.get(c) ?? NOBODY;
    return a.anyone || a.peers.has(other);
  }

  /** `peer`'s transport as `watcher` may see it: undefined when offline or hidden from it. */
  visibleTo(peer: string, watcher: string): Transport | undefined {
    if (this.remote && !this.#conns.has(peer)) {
      // On another node: only what that node showed this watcher (`showRemote`), if it watches.
      const c = this.#conns.get(watcher);
      const shown = c ? this.#watching.get(c)?.get(peer) : undefined;
      return shown && shown !== 'offline' ? shown : undefined;
    }
    return this.allows(peer, watcher) ? this.#online.get(peer) : undefined;
  }

  /** Delivery tells us when a peer's session starts or ends (any transport). */
  setOnline(peer: string, online: boolean, transport: Transport | undefined): void {
    if (online && transport) this.#online.set(peer, transport);
    else this.#online.delete(peer);
    this.#refresh(peer);
  }

  /** A WebSocket connection of `c.peer` is ready for control frames. It allows nobody yet. */
  addChannel(c: ControlChannel): void {
    this.#conns.set(c.peer, c);
    this.#refresh(c.peer);
  }

  removeChannel(c: ControlChannel): void {
    this.#allows.delete(c);
    if (this.#conns.get(c.peer) === c) {
      this.#conns.delete(c.peer);
      this.#refresh(c.peer);
    }
    this.watch(c, []);
    this.#watching.delete(c);
  }

  channel(peer: string): ControlChannel | undefined {
    return this.#conns.get(peer);
  }

  /** Replace `c`'s allow list (the `allow` frame); watchers see the change at once. */
  allow(c: ControlChannel, peers: readonly string[], anyone: boolean): void {
    this.#allows.set(c, { peers: new Set(peers), anyone });
    if (this.#conns.get(c.peer) === c) this.#refresh(c.peer);
  }

  /** Replace what `c` watches; it is told the current state of each newly watched peer. */
  watch(c: ControlChannel, peers: readonly string[]): void {
    const before = this.#watching.get(c) ?? new Map<string, Shown>();
    const after = new Map<string, Shown>();
    for (const p of peers) {
      const shown = before.get(p);
      if (shown !== undefined) after.set(p, shown);
    }
    for (const p of before.keys()) {
      if (after.has(p)) continue;
      const set = this.#watchers.get(p);
      set?.delete(c);
      if (set?.size === 0) this.#watchers.delete(p);
    }
    for (const p of peers) {
      if (after.has(p)) continue;
      let set = this.#watchers.get(p);
      if (!set) this.#watchers.set(p, (set = new Set()));
      set.add(c);
      const shown = this.#shown(p, c.peer);
      after.set(p, shown);
      this.#sendTo(c, presenceFrame(p, shown));
    }
    if (after.size > 0) this.#watching.set(c, after);
    else this.#watching.delete(c);
    if (this.remote) {
      const added = peers.filter((p) => !before.has(p) && !this.#conns.has(p));
      const removed = [...before.keys()].filter((p) => !after.has(p));
      if (added.length + removed.length > 0) this.remote.watch(c.peer, added, removed);
    }
  }

  /**
   * What `peer` (here) looks like to each of `watchers` (on other nodes): the answer this node
   * gives them, by this node's rules (its allow list).
   */
  shownTo(peer: string, watchers: readonly string[]): [string, Shown][] {
    return watchers.map((w) => [w, this.#shown(peer, w)]);
  }

  /** `peer`'s node says `watcher` (here) sees it as `shown`: tell the watcher if that changed. */
  showRemote(watcher: string, peer: string, shown: Shown): void {
    const c = this.#conns.get(watcher);
    const seen = c ? this.#watching.get(c) : undefined;
    if (!c || !seen || !seen.has(peer) || seen.get(peer) === shown || this.#conns.has(peer)) return;
    seen.set(peer, shown);
    this.#sendTo(c, presenceFrame(peer, shown));
  }

  /**
   * The one choke point of peer-to-peer frames: send `m` (from peer `from`) to `to`'s
   * WebSocket if `to` allows `from`. False — silently, counted — otherwise.
   */
  forward(from: string, to: string, m: ServerMessage): boolean {
    if (this.remote && !this.#conns.has(to)) {
      this.remote.forward(from, to, m);
      return true;
    }
    return this.forwardHere(from, to, m);
  }

  /** `forward` for a peer on this node only (frames that came from another node end here). */
  forwardHere(from: string, to: string, m: ServerMessage): boolean {
    const c = this.#conns.get(to);
    if (!c || !this.allows(to, from)) {
      this.#metrics.drops.inc({ reason: 'rendezvous_refused', type: m.type });
      return false;
    }
    this.onForward(from, to);
    this.#sendTo(c, m);
    return true;
  }

  /**
   * Coordinated punch start: both sides begin probing at the same server instant, far enough
   * ahead that the later of the two `punch-start` frames has arrived (half of each RTT plus a
   * lead). Clock offsets cancel because each side converts `at` using the `welcome.time` offset.
   * Same rule as `forward`: only if `to` is on a WebSocket and allows `from`.
   */
  punch(from: ControlChannel, to: string, rid: string): boolean {
    if (this.remote && !this.#conns.has(to)) {
      this.remote.punch(from, to, rid);
      return true;
    }
    const other = this.#conns.get(to);
    if (!other || !this.allows(to, from.peer)) {
      this.#metrics.drops.inc({ reason: 'rendezvous_refused', type: 'punch' });
      return false;
    }
    this.onForward(from.peer, to);
    const rtt = Math.max(from.rttMs, other.rttMs);
    const at = Math.round(this.#clock.now() + rtt / 2 + this.#punchLeadMs);
    this.#sendTo(from, { type: 'punch-start', from: to, rid, at, rtt });
    this.#sendTo(other, { type: 'punch-start', from: from.peer, rid, at, rtt });
    return true;
  }

  /**
   * A punch asked by `from` on another node (RTT `fromRttMs` to its node) toward `to` here.
   * Same rule and timing as `punch`, plus `hopMs` for the caller's `punch-start` to travel back
   * through its node. Returns the caller's frame (the remote node sends it), or undefined when
   * refused (silently, counted, as `punch`).
   */
  punchHere(
    from: string,
    fromRttMs: number,
    to: string,
    rid: string,
    hopMs: number,
  ): ServerMessage | undefined {
    const other = this.#conns.get(to);
    if (!other || !this.allows(to, from)) {
      this.#metrics.drops.inc({ reason: 'rendezvous_refused', type: 'punch' });
      return undefined;
    }
    this.onForward(from, to);
    const rtt = Math.max(fromRttMs, other.rttMs);
    const at = Math.round(this.#clock.now() + rtt / 2 + this.#punchLeadMs + hopMs);
    this.#sendTo(other, { type: 'punch-start', from, rid, at, rtt });
    return { type: 'punch-start', from: to, rid, at, rtt };
  }

  /** Send `m` to `peer`'s WebSocket here, if it has one (frames decided on another node). */
  sendHere(peer: string, m: ServerMessage): boolean {
    const c = this.#conns.get(peer);
    if (!c) return false;
    this.#sendTo(c, m);
    return true;
  }

  /**
   * The recipient acked `r`: tell its sender, if the sender is a connected peer that may see
   * the recipient (a `delivered` says "it was online just now", which is presence).
   */
  delivered(r: Removed, via: Transport): void {
    const c = this.#conns.get(r.from);
    if (!c) {
      // The sender is on another node: this node holds the recipient, so it decides here.
      if (r.fromNode && this.remote && this.allows(r.to, r.from)) this.remote.delivered(r, via);
      return;
    }
    if (!this.allows(r.to, r.from)) {
      this.#metrics.drops.inc({ reason: 'hidden', type: 'delivered' });
      return;
    }
    this.#sendTo(c, { type: 'delivered', id: r.id, to: r.to, via });
  }

  #shown(peer: string, watcher: string): Shown {
    return this.visibleTo(peer, watcher) ?? 'offline';
  }

  /** Something about `peer` changed: tell each watcher whose view of it changed. */
  #refresh(peer: string): void {
    this.remote?.changed(peer);
    for (const w of this.#watchers.get(peer) ?? []) {
      const seen = this.#watching.get(w);
      const now = this.#shown(peer, w.peer);
      if (!seen || seen.get(peer) === now) continue;
      seen.set(peer, now);
      this.#sendTo(w, presenceFrame(peer, now));
    }
  }

  #sendTo(c: ControlChannel, m: ServerMessage): void {
    if (!c.control(m)) this.#metrics.drops.inc({ reason: 'queue_full', type: m.type });
  }
}

function presenceFrame(peer: string, shown: Shown): ServerMessage {
  return shown === 'offline'
    ? { type: 'presence', peer, online: false }
    : { type: 'presence', peer, online: true, transport: shown };
}
