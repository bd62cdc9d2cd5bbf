/**
 * Which serve nodes are alive. Each node keeps `node:{id}` alive with a TTL (`ttlMs`) renewed
 * every `heartbeatMs`; a node that stops renewing (killed, partitioned from Redis) is dead once
 * its key expires. Every node sweeps `nodes` every `heartbeatMs` and reaps the dead: their
 * peers' routes are deleted (presence: offline) in one Lua script, so two nodes reaping at once
 * reap each peer once.
 *
 * A node that was itself reaped (it lost Redis for longer than the TTL, or Redis restarted
 * without its data) finds its key gone at its next heartbeat and calls `onRevived`: the store
 * claims its peers again, so routes come back without the peers reconnecting.
 */
import type { Redis } from 'ioredis';
import type { Clock, TimerHandle } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import { REAP_LUA } from './cluster-scripts.js';
import type { ClusterKeys } from './keys.js';

export interface NodeRegistryOptions {
  redis: Redis;
  keys: ClusterKeys;
  nodeId: string;
  clock: Clock;
  logger: Logger;
  /** CLUSTER_TIMING.nodeTtlMs */
  ttlMs: number;
  /** CLUSTER_TIMING.heartbeatMs */
  heartbeatMs: number;
}

export class NodeRegistry {
  readonly #o: NodeRegistryOptions;
  #timer: TimerHandle | undefined;
  #lastBeat = 0;
  #stopped = false;
  /** Told of each dead node reaped here and the peers whose routes it held. */
  onReaped: (node: string, peers: string[]) => void = () => {};
  /** Told when this node's own key was found missing (reaped, or Redis lost it). */
  onRevived: () => void = () => {};
  /** For /metrics (cluster-metrics.ts): nodes alive at the last sweep (this one included). */
  liveNodes = 1;
  /** Dead nodes reaped here, heartbeats or sweeps that failed, times this node was revived. */
  readonly counts = { reaped: 0, failures: 0, revived: 0 };

  constructor(o: NodeRegistryOptions) {
    this.#o = o;
  }

  /** True while the last heartbeat reached Redis within the TTL. */
  get alive(): boolean {
    return !this.#stopped && this.#o.clock.now() - this.#lastBeat < this.#o.ttlMs;
  }

  async start(): Promise<void> {
    await this.#beat(true);
    this.#schedule();
  }

  /** Stop beating and delete our key: the other nodes see us gone at once (graceful drain). */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#timer?.cancel();
    try {
      await this.#o.redis.del(this.#o.keys.node(this.#o.nodeId));
    } catch (err) {
      this.#o.logger.warn('cluster: could not delete node key', { err: String(err) });
    }
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = this.#o.clock.setTimeout(() => {
      void this.#tick().finally(() => this.#schedule());
    }, this.#o.heartbeatMs);
  }

  async #tick(): Promise<void> {
    try {
      await this.#beat(false);
      await this.#sweep();
    } catch (err) {
      this.counts.failures++;
      this.#o.logger.warn('cluster heartbeat failed', { err: String(err) });
    }
  }

  async #beat(first: boolean): Promise<void> {
    const { redis, keys, nodeId, ttlMs } = this.#o;
    // SET … GET (Redis ≥ 6.2): renew and learn in one round trip whether the key had expired.
    const before = await redis
      .multi()
      .set(keys.node(nodeId), String(this.#o.clock.now()), 'PX', ttlMs, 'GET')
      .sadd(keys.nodes, nodeId)
      .exec();
    this.#lastBeat = this.#o.clock.now();
    const prev = before?.[0]?.[1];
    if (!first && prev === null) {
      this.counts.revived++;
      this.#o.logger.warn('cluster: this node had been reaped; claiming its peers again');
      this.onRevived();
    }
  }

  async #sweep(): Promise<void> {
    const { redis, keys, nodeId } = this.#o;
    const nodes = await redis.smembers(keys.nodes);
    let live = 1;
    for (const n of nodes) {
      if (n === nodeId) continue;
      if ((await redis.exists(keys.node(n))) === 1) {
        live++;
        continue;
      }
      const peers = (await redis.eval(REAP_LUA, 0, keys.prefix, n)) as string[];
      this.counts.reaped++;
      this.#o.logger.info('cluster: reaped a dead node', { node: n, peers: peers.length });
      this.onReaped(n, peers);
    }
    this.liveNodes = live;
  }
}
