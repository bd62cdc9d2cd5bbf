/**
 * The routing bus between serve nodes: Redis pub/sub, one channel per node (`ch:{node}`), plus
 * one broadcast channel for registrations. A message goes to the node that holds the peer it
 * concerns (the `route:{peer}` key says which), so a node hears only about its own peers.
 *
 * Pub/sub is at most once: a message published while a node's subscriber is reconnecting is
 * lost. Nothing that matters rides on it alone — a notification is in the store before its
 * `stored` message is published, and a node whose subscriber reconnects reloads the mailboxes
 * of all its peers (redis-store.ts `reclaimAll`); presence and rendezvous frames are best effort
 * by design (presence.ts).
 *
 * | t   | to node holding | fields                    | meaning                                       |
 * | --- | --------------- | ------------------------- | --------------------------------------------- |
 * | `s` | the recipient   | seq, n                    | stored for your peer (published by Lua)       |
 * | `e` | the old route   | peer                      | evicted: the peer connected to another node   |
 * | `d` | the sender      | r, via                    | delivered: the recipient acked r              |
 * | `f` | the recipient   | from, to, m, node, addr.  | a peer-to-peer frame (candidates, p2p)        |
 * | `p` | the callee      | from, to, rid, rtt, reply | punch request; the callee's node times it     |
 * |     |                 | address                   | (address: where `from` connects from)         |
 * | `q` | the caller      | to, m                     | the caller's punch-start                      |
 * | `v` | the peer        | peer, watcher, node       | what may this watcher (on node) see of peer?  |
 * | `w` | the watchers    | peer, shown[[w, shown]]   | what each watcher sees of peer now            |
 * | `g` | the caller      | from, to, address         | rendezvous admitted: the relay's peer gate    |
 * | `a` | the recipient   | peer, ids, via            | acks that reached another node (HTTP)         |
 */
import type { Redis } from 'ioredis';
import type { Logger } from '../util/logger.js';
import type { ServerMessage, Transport } from '../signaling/protocol.js';
import type { ClusterKeys } from './keys.js';

export type BusMessage =
  | { t: 's'; seq: number; n: import('../signaling/protocol.js').Notification }
  | { t: 'e'; peer: string }
  | { t: 'd'; r: { id: string; from: string; to: string }; via: Transport }
  | { t: 'f'; from: string; to: string; m: ServerMessage; node: string; address?: string }
  | { t: 'p'; from: string; to: string; rid: string; rtt: number; reply: string; address?: string }
  | { t: 'q'; to: string; m: ServerMessage }
  | { t: 'v'; peer: string; watcher: string; node: string }
  | { t: 'w'; peer: string; shown: [string, Transport | 'offline'][] }
  | { t: 'g'; from: string; to: string; address: string | undefined }
  | { t: 'a'; peer: string; ids: string[]; via: Transport };

export type BusHandler = (m: BusMessage) => void;

/** Largest message taken off the bus (a notification body ≤ 24 KiB is the biggest sent). */
const MAX_MESSAGE_BYTES = 256 * 1024;

export class ClusterBus {
  readonly #pub: Redis;
  readonly #sub: Redis;
  readonly #keys: ClusterKeys;
  readonly #logger: Logger;
  readonly #own: string;
  #handlers: BusHandler[] = [];
  /** Told of each registration broadcast by any node (peer, public key). */
  onRegistered: (peer: string, publicKey: string) => void = () => {};
  /** Counts by reason of messages that could not be taken (parse errors, oversize). */
  readonly dropped = { malformed: 0 };

  constructor(o: { pub: Redis; sub: Redis; keys: ClusterKeys; nodeId: string; logger: Logger }) {
    this.#pub = o.pub;
    this.#sub = o.sub;
    this.#keys = o.keys;
    this.#logger = o.logger;
    this.#own = o.keys.channel(o.nodeId);
    this.#sub.on('message', (channel: string, payload: string) =>
      this.#onMessage(channel, payload),
    );
  }

  /** Subscribe to this node's channel and the broadcast (ioredis re-subscribes on reconnect). */
  async start(): Promise<void> {
    await this.#sub.subscribe(this.#own, this.#keys.registered);
  }

  on(h: BusHandler): void {
    this.#handlers.push(h);
  }

  /**
   * Publish to node `node`; resolves with whether a subscriber got it (0 = that node is gone:
   * the caller treats the peer as offline, exactly as when it was never online).
   */
  async send(node: string, m: BusMessage): Promise<boolean> {
    return (await this.#pub.publish(this.#keys.channel(node), JSON.stringify(m))) > 0;
  }

  #onMessage(channel: string, payload: string): void {
    if (payload.length > MAX_MESSAGE_BYTES) {
      this.dropped.malformed++;
      return;
    }
    if (channel === this.#keys.registered) {
      const tab = payload.indexOf('\t');
      if (tab > 0) this.onRegistered(payload.slice(0, tab), payload.slice(tab + 1));
      return;
    }
    let m: BusMessage;
    try {
      m = JSON.parse(payload) as BusMessage;
    } catch {
      this.dropped.malformed++;
      this.#logger.warn('cluster bus: malformed message', { bytes: payload.length });
      return;
    }
    for (const h of this.#handlers) {
      try {
        h(m);
      } catch (err) {
        // A background loop never throws (STYLE.md 7): log and go on.
        this.#logger.error('cluster bus handler failed', { t: m.t, err: String(err) });
      }
    }
  }
}
