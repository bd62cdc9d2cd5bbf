/**
 * Presence, rendezvous and acks across serve nodes, over the bus (bus.ts). Every decision that
 * needs a peer's allow list is made on the node that holds the peer (presence.ts), so this file
 * only finds that node (`route:{peer}`) and carries frames there and answers back:
 *
 *   W watches P (P on node B):  node A: SADD watch:P "A\tW"; GET route:P → B; send B `v`
 *                               node B: shownTo(P, [W]) → send A `w` {P, [[W, shown]]}
 *   P changes (B):              node B: SMEMBERS watch:P → per node, `w` with each watcher's view
 *   X → frame → P:              node A: GET route:P → B; send B `f`; B: forwardHere (allow check)
 *   X punches P:                node A → B `p`; B: punchHere (times `at`, sends P its start) → A `q`
 *   P acks X's notification:    node B (holds P): allows(P, X)? → X's node `d` → X `delivered`
 *
 * A peer with no route, or whose node has no subscriber any more (PUBLISH reaches 0 clients),
 * is offline: the frame is dropped as presence.ts drops frames to offline peers. `watch:{P}`
 * entries of a node that is gone are removed when a publish to it reaches nobody, and the key
 * has a TTL that the watchers' nodes renew (watch-leases.ts).
 */
import type { ControlChannel, Presence, RemotePresence, Shown } from '../signaling/presence.js';
import type { ServerMessage, Transport } from '../signaling/protocol.js';
import type { Removed } from '../signaling/store/store.js';
import { LIMITS } from '../signaling/constants.js';
import { KeyedRateLimiter } from '../util/token-bucket.js';
import type { BusMessage } from './bus.js';
import type { ClusterNode } from './cluster-node.js';
import { WatchLeases } from './watch-leases.js';

/**
 * Added to the punch lead for a start that crosses nodes: the caller's `punch-start` travels
 * one more bus hop (PUBLISH + delivery, ~0.2 ms on loopback, ~1 ms in one data centre), so 5 ms
 * keeps `at` ahead of both frames with room. Node clocks must agree (NTP): `at` is the callee
 * node's clock, converted by the caller with its own node's `welcome.time`.
 */
export const CLUSTER_HOP_MS = 5;

/**
 * A frame for a peer with no route yet is retried this often, this many times: the peer's
 * session may be a few ms old, its route set by the claim that follows the `welcome` (a peer
 * that got a `punch` or `candidates` right after connecting). Rendezvous frames are best effort;
 * this only keeps a fresh connection from losing the first ones.
 */
const ROUTE_RETRY = { delayMs: 25, tries: 4 } as const;

/**
 * Remote watch work per watcher: each newly watched peer on another node costs Redis an SADD,
 * a GET and a publish, so a peer re-sending `watch` with different lists (1,000 frames/s are
 * allowed) could make one node flood Redis. A watcher gets `burst` entries at once (its whole
 * list, LIMITS.maxWatchedPeers) and `perSecond` after; beyond that a newly watched remote peer
 * stays shown offline (what a hidden peer looks like anyway) and is counted. Buckets: one per
 * watcher seen lately, at most `maxWatchers` (the least recently used half dropped when full).
 */
const WATCH_BUDGET = { perSecond: 200, maxWatchers: 20_000 } as const;

export class ClusterPresence implements RemotePresence {
  readonly #c: ClusterNode;
  readonly #p: Presence;
  readonly #claiming: (peer: string) => boolean;
  readonly #watchBudget: KeyedRateLimiter;
  /** The TTL of the `watch:{peer}` keys this node has entries in. */
  readonly leases: WatchLeases;
  /** Applies acks forwarded from another node to a peer whose session is here (server.ts). */
  onAck: (peer: string, ids: string[], via: Transport) => void = () => {};
  /** Remote watch entries refused by WATCH_BUDGET. */
  readonly dropped = { watchBudget: 0 };

  /**
   * `claiming(peer)`: the peer's session here is still taking its route (delivery.ts). Remote
   * watchers are told of it only once the route is set, so that what they send it finds it.
   */
  constructor(
    cluster: ClusterNode,
    presence: Presence,
    claiming: (peer: string) => boolean,
    maxWatchedPeers: number = LIMITS.maxWatchedPeers,
  ) {
    this.#c = cluster;
    this.#p = presence;
    this.#claiming = claiming;
    this.#watchBudget = new KeyedRateLimiter(
      {
        ratePerSecond: WATCH_BUDGET.perSecond,
        burst: maxWatchedPeers,
        maxKeys: WATCH_BUDGET.maxWatchers,
        order: 'used',
      },
      cluster.clock,
    );
    this.leases = new WatchLeases(cluster);
    presence.remote = this;
    cluster.bus.on((m) => this.#onMessage(m));
  }

  forward(from: string, to: string, m: ServerMessage): void {
    const address = m.type === 'candidates' ? this.#addressOf(from) : undefined;
    void this.#toNodeOf(to, {
      t: 'f',
      from,
      to,
      m,
      node: this.#c.id,
      ...(address ? { address } : {}),
    });
  }

  punch(from: ControlChannel, to: string, rid: string): void {
    // Where the caller connects from, for the callee node's relay peer gate (as `forward` does
    // for candidates): a punch may be the first rendezvous frame that crosses.
    const address = this.#addressOf(from.peer);
    void this.#toNodeOf(to, {
      t: 'p',
      from: from.peer,
      to,
      rid,
      rtt: from.rttMs,
      reply: this.#c.id,
      ...(address ? { address } : {}),
    });
  }

  /** Acks of a peer whose session is on another node: sent there. */
  ack(peer: string, ids: readonly string[], via: Transport): void {
    void this.#toNodeOf(peer, { t: 'a', peer, ids: [...ids], via });
  }

  delivered(r: Removed, via: Transport): void {
    if (!r.fromNode) return;
    void this.#send(r.fromNode, { t: 'd', r: { id: r.id, from: r.from, to: r.to }, via });
  }

  /** Peers of a dead node (node-registry.ts reaped it): offline for every watcher. */
  reaped(peers: readonly string[]): void {
    for (const p of peers)
      this.#tellWatchers(p, (watchers) => watchers.map((w) => [w, 'offline']), true);
  }

  changed(peer: string): void {
    if (this.#claiming(peer)) return; // told again when the claim is done (server.ts)
    this.#tellWatchers(peer, (watchers) => this.#p.shownTo(peer, watchers));
  }

  /**
   * Send each node that has watchers of `peer` what they see (`view`). This node's own watchers
   * are presence.ts's business (it refreshes them itself) unless `here` (a reaped peer).
   */
  #tellWatchers(peer: string, view: (watchers: string[]) => [string, Shown][], here = false): void {
    this.#c.redis.smembers(this.#c.keys.watch(peer)).then(
      (entries) => {
        const byNode = new Map<string, string[]>();
        for (const e of entries) {
          const tab = e.indexOf('\t');
          const node = e.slice(0, tab);
          if (node === this.#c.id && !here) continue;
          let l = byNode.get(node);
          if (!l) byNode.set(node, (l = []));
          l.push(e.slice(tab + 1));
        }
        for (const [node, watchers] of byNode) {
          const shown = view(watchers);
          if (node === this.#c.id) {
            for (const [w, x] of shown) this.#p.showRemote(w, peer, x);
            continue;
          }
          void this.#send(node, { t: 'w', peer, shown }).then((got) => {
            // That node is gone: its watch entries go with it.
            if (!got) void this.#unwatch(peer, node, watchers);
          });
        }
      },
      (err: unknown) =>
        this.#c.logger.warn('cluster presence: changed failed', { err: String(err) }),
    );
  }

  watch(watcher: string, wanted: readonly string[], removed: readonly string[]): void {
    const { redis, keys, id } = this.#c;
    const added = this.#withinBudget(watcher, wanted);
    const m = redis.multi();
    for (const p of removed) {
      m.srem(keys.watch(p), `${id}\t${watcher}`);
      this.leases.remove(watcher, p);
    }
    for (const p of added) m.sadd(keys.watch(p), `${id}\t${watcher}`).get(keys.route(p));
    // The TTLs last, so the replies above keep their places.
    for (const p of added) this.leases.add(m, watcher, p);
    m.exec().then(
      (res) => {
        // Routes of the added peers are the replies after each SADD.
        const routes = (res ?? [])
          .slice(removed.length, removed.length + 2 * added.length)
          .filter((_, i) => i % 2 === 1);
        added.forEach((p, i) => {
          const route = routes[i]?.[1];
          if (typeof route !== 'string') return;
          const node = route.slice(0, route.indexOf('\t'));
          if (node !== id) void this.#send(node, { t: 'v', peer: p, watcher, node: id });
        });
      },
      (err: unknown) => this.#c.logger.warn('cluster presence: watch failed', { err: String(err) }),
    );
  }

  /** The first of `wanted` that `watcher`'s budget allows (WATCH_BUDGET); the rest counted. */
  #withinBudget(watcher: string, wanted: readonly string[]): readonly string[] {
    if (wanted.length === 0) return wanted;
    const n = this.#watchBudget.takeUpTo(watcher, wanted.length);
    if (n < wanted.length) {
      this.dropped.watchBudget += wanted.length - n;
      this.#c.logger.debug('cluster presence: remote watch over budget', { watcher });
    }
    return n === wanted.length ? wanted : wanted.slice(0, n);
  }

  /** The remote address of `peer`'s WebSocket here (ws-connection.ts `address`), if known. */
  #addressOf(peer: string): string | undefined {
    const a = (this.#p.channel(peer) as { address?: unknown } | undefined)?.address;
    return typeof a === 'string' ? a : undefined;
  }

  /** Publish to the node holding `peer`; false when it has none or that node is gone. */
  async #toNodeOf(peer: string, m: BusMessage): Promise<boolean> {
    try {
      let route = await this.#c.redis.get(this.#c.keys.route(peer));
      for (let i = 1; !route && i < ROUTE_RETRY.tries; i++) {
        await new Promise<void>((r) => this.#c.clock.setTimeout(r, ROUTE_RETRY.delayMs));
        route = await this.#c.redis.get(this.#c.keys.route(peer));
      }
      if (!route) return false;
      const node = route.slice(0, route.indexOf('\t'));
      if (node === this.#c.id) {
        // Routed here but no WebSocket here (long-poll or SSE session): nothing to forward to.
        return false;
      }
      return await this.#send(node, m);
    } catch (err) {
      this.#c.logger.warn('cluster presence: route lookup failed', { err: String(err) });
      return false;
    }
  }

  async #send(node: string, m: BusMessage): Promise<boolean> {
    try {
      return await this.#c.bus.send(node, m);
    } catch (err) {
      this.#c.logger.warn('cluster bus publish failed', { t: m.t, err: String(err) });
      return false;
    }
  }

  async #unwatch(peer: string, node: string, watchers: string[]): Promise<void> {
    try {
      await this.#c.redis.srem(this.#c.keys.watch(peer), ...watchers.map((w) => `${node}\t${w}`));
    } catch {
      // Retried at the next change of `peer`.
    }
  }

  #onMessage(m: BusMessage): void {
    const p = this.#p;
    switch (m.t) {
      case 'f':
        // Candidates admitted here: the caller's node notes the rendezvous for its relay's peer
        // gate (not every p2p datagram: they ride on a rendezvous already noted).
        if (p.forwardHere(m.from, m.to, m.m) && m.m.type === 'candidates') {
          if (m.address) p.onRemoteAddress(m.from, m.address);
          void this.#send(m.node, {
            t: 'g',
            from: m.from,
            to: m.to,
            address: this.#addressOf(m.to),
          });
        }
        return;
      case 'p': {
        const start = p.punchHere(m.from, m.rtt, m.to, m.rid, CLUSTER_HOP_MS);
        if (!start) return;
        if (m.address) p.onRemoteAddress(m.from, m.address);
        void this.#send(m.reply, { t: 'q', to: m.from, m: start });
        void this.#send(m.reply, {
          t: 'g',
          from: m.from,
          to: m.to,
          address: this.#addressOf(m.to),
        });
        return;
      }
      case 'a':
        this.onAck(m.peer, m.ids, m.via);
        return;
      case 'g':
        p.onForward(m.from, m.to);
        if (m.address) p.onRemoteAddress(m.to, m.address);
        return;
      case 'q':
        p.sendHere(m.to, m.m);
        return;
      case 'd':
        p.sendHere(m.r.from, { type: 'delivered', id: m.r.id, to: m.r.to, via: m.via });
        return;
      case 'v':
        void this.#send(m.node, { t: 'w', peer: m.peer, shown: p.shownTo(m.peer, [m.watcher]) });
        return;
      case 'w':
        for (const [watcher, shown] of m.shown) p.showRemote(watcher, m.peer, shown);
        return;
      default:
    }
  }
}
