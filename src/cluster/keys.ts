/**
 * Every Redis key and channel natpush uses, in one place. One prefix (default `np:`) per
 * deployment, so several can share one Redis. The Lua scripts (../signaling/store/redis-scripts.ts
 * and cluster-scripts.ts) build the same names from the prefix; they are listed here once:
 *
 * | key                    | type    | what                                                        |
 * | ---------------------- | ------- | ----------------------------------------------------------- |
 * | `seq`                  | string  | the mailbox's seq counter (INCR; never reused)              |
 * | `mb:{to}`              | zset    | `from\nid` scored by seq: the recipient's mailbox, in order |
 * | `nd:{to}`              | hash    | `from\nid` → `bytes\n{json}`: the notifications             |
 * | `exp`                  | zset    | `to\nfrom\nid` scored by expiry, for the sweep              |
 * | `u`                    | hash    | store-wide counts: c, b (all), pc, pb (peer senders)        |
 * | `ut:{to}`              | hash    | per recipient: p (from peers), `s:{from}` per peer sender   |
 * | `peers`                | hash    | peer → public key (registrations)                           |
 * | `seen`                 | zset    | peer scored by when last seen, ms (idle expiry: peer-limits)|
 * | `route:{peer}`         | string  | `node\ttransport`: the node holding the peer's session      |
 * | `node:{id}`            | string  | a live node (PX TTL; its heartbeat renews it)               |
 * | `nodes`                | set     | node ids ever started and not yet reaped                    |
 * | `peers-of:{id}`        | set     | peers routed to node id (reaped with it)                    |
 * | `watch:{peer}`         | set     | `node\twatcher`: who watches the peer, on which node (PX    |
 * |                        |         | TTL, renewed by the watchers' nodes: watch-leases.ts)       |
 * | `secret`               | string  | the cluster's session-token secret (SET NX once)            |
 * | `relay:{id}`           | string  | a live TURN relay's record, JSON (PX TTL; relay-record.ts)  |
 * | `relays`               | set     | relay ids registered and not yet found expired              |
 * | `relay-seen:{ip}`      | hash    | peer → expiry ms: a relay (allocation) or a serve node      |
 * |                        |         | (signaling connection) saw the peer at ip (PX TTL; at most  |
 * |                        |         | RELAY_SEEN.maxPeersPerIp fields: rendezvous-pairs.ts        |
 * |                        |         | armSeen; read by relay-peer-gate.ts)                        |
 * | `rendezvous:{peer}`    | zset    | partner scored by expiry ms: peers in rendezvous (PX TTL;   |
 * |                        |         | rendezvous-pairs.ts; read by relay-peer-gate.ts)            |
 * | `challenge:{nonce}`    | string  | an HTTP login challenge, JSON (PX TTL; cluster-challenges)  |
 *
 * Channels: `ch:{node}` (one per node: everything routed to it), `registered` (broadcast).
 */
export const DEFAULT_PREFIX = 'np:';

export class ClusterKeys {
  constructor(readonly prefix: string = DEFAULT_PREFIX) {}
  node(id: string): string {
    return `${this.prefix}node:${id}`;
  }
  get nodes(): string {
    return `${this.prefix}nodes`;
  }
  channel(id: string): string {
    return `${this.prefix}ch:${id}`;
  }
  get registered(): string {
    return `${this.prefix}registered`;
  }
  get peers(): string {
    return `${this.prefix}peers`;
  }
  get usage(): string {
    return `${this.prefix}u`;
  }
  route(peer: string): string {
    return `${this.prefix}route:${peer}`;
  }
  watch(peer: string): string {
    return `${this.prefix}watch:${peer}`;
  }
  get secret(): string {
    return `${this.prefix}secret`;
  }
  relay(id: string): string {
    return `${this.prefix}relay:${id}`;
  }
  get relays(): string {
    return `${this.prefix}relays`;
  }
  relaySeen(ip: string): string {
    return `${this.prefix}relay-seen:${ip}`;
  }
  rendezvous(peer: string): string {
    return `${this.prefix}rendezvous:${peer}`;
  }
  challenge(nonce: string): string {
    return `${this.prefix}challenge:${nonce}`;
  }
}
