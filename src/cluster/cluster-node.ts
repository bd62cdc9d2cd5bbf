/**
 * One serve node's membership of a Redis cluster: two connections (commands, and a subscriber,
 * which pub/sub requires), the routing bus (bus.ts) and the node registry (node-registry.ts).
 * `startClusterNode()` connects, subscribes and registers; `ready` is what /readyz reports.
 *
 * Redis deployment this is written for: one primary (with replicas / Sentinel for failover),
 * not Redis Cluster — the Lua scripts touch keys of many peers at once, which a sharded
 * Redis Cluster would refuse (CROSSSLOT).
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { SignalingError, SignalingErrorCode } from '../signaling/errors.js';
import { systemClock, type Clock } from '../util/clock.js';
import { silentLogger, type Logger } from '../util/logger.js';
import { ClusterBus } from './bus.js';
import { CLUSTER_TIMING } from './constants.js';
import { ClusterKeys, DEFAULT_PREFIX } from './keys.js';
import { NodeRegistry } from './node-registry.js';
import { parseRedisUrl, redactRedisUrl } from './redis-options.js';

export type ClusterTiming = { -readonly [K in keyof typeof CLUSTER_TIMING]: number };

export interface ClusterNodeOptions {
  /** `redis://…`, `rediss://…` or `unix:///path/to/redis.sock` (redis-options.ts). */
  redisUrl: string;
  /** This node's id. Default random (a restarted node is a new node: its old id is reaped). */
  nodeId?: string;
  /** Key prefix (keys.ts). Default `np:`. */
  prefix?: string;
  /** Override CLUSTER_TIMING (tests shorten the TTL). */
  timing?: Partial<ClusterTiming>;
  clock?: Clock;
  logger?: Logger;
}

export interface ClusterNode {
  readonly id: string;
  readonly keys: ClusterKeys;
  /** Commands (and publishing). */
  readonly redis: Redis;
  readonly bus: ClusterBus;
  readonly registry: NodeRegistry;
  readonly timing: ClusterTiming;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Where Redis is, password redacted. */
  readonly where: string;
  /** Both connections up and the last heartbeat within the TTL: what /readyz reports. */
  readonly ready: boolean;
  /** Told each time the subscriber connection is back after a loss (messages may be lost). */
  onResubscribed: () => void;
  /** Deregister and disconnect. */
  close(): Promise<void>;
}

function connect(url: string, name: string, timing: ClusterTiming): Redis {
  const t = parseRedisUrl(url);
  const options = {
    ...t.options,
    connectionName: name,
    // Commands wait for a reconnect (a Redis restart takes ~1 s) but not forever: after three
    // reconnect attempts a commit fails and the sender gets NATPUSH_ERR_STORE_FAILED (503) and
    // retries with the same id, which the store dedupes.
    maxRetriesPerRequest: 3,
    retryStrategy: (times: number) => Math.min(50 * times, timing.maxReconnectDelayMs),
    lazyConnect: true,
  };
  return t.url ? new Redis(t.url, options) : new Redis(options);
}

export async function startClusterNode(o: ClusterNodeOptions): Promise<ClusterNode> {
  const timing: ClusterTiming = { ...CLUSTER_TIMING, ...o.timing };
  const clock = o.clock ?? systemClock;
  const logger = o.logger ?? silentLogger;
  const id = o.nodeId ?? randomBytes(6).toString('hex');
  const keys = new ClusterKeys(o.prefix ?? DEFAULT_PREFIX);
  const redis = connect(o.redisUrl, `natpush-${id}`, timing);
  const sub = connect(o.redisUrl, `natpush-${id}-sub`, timing);
  // ioredis reports connection errors as 'error' events; without a listener Node would throw.
  let lastError = '';
  const onError = (err: Error) => {
    if (err.message === lastError) return;
    lastError = err.message;
    logger.warn('redis connection error', { err: err.message });
  };
  redis.on('error', onError);
  sub.on('error', onError);
  try {
    await redis.connect();
    await sub.connect();
  } catch (err) {
    redis.disconnect();
    sub.disconnect();
    throw new SignalingError(
      SignalingErrorCode.STORE_FAILED,
      `cannot reach Redis at ${redactRedisUrl(o.redisUrl)}: ${lastError || (err as Error).message}`,
      { cause: err },
    );
  }
  const bus = new ClusterBus({ pub: redis, sub, keys, nodeId: id, logger });
  await bus.start();
  const registry = new NodeRegistry({
    redis,
    keys,
    nodeId: id,
    clock,
    logger,
    ttlMs: timing.nodeTtlMs,
    heartbeatMs: timing.heartbeatMs,
  });
  await registry.start();
  const node: ClusterNode = {
    id,
    keys,
    redis,
    bus,
    registry,
    timing,
    clock,
    logger,
    where: redactRedisUrl(o.redisUrl),
    get ready() {
      return redis.status === 'ready' && sub.status === 'ready' && registry.alive;
    },
    onResubscribed: () => {},
    async close() {
      await registry.stop();
      redis.disconnect();
      sub.disconnect();
    },
  };
  // The subscriber's first 'ready' is the connect above; each later one follows a loss.
  sub.on('ready', () => {
    logger.info('redis subscriber reconnected; reloading claimed mailboxes');
    node.onResubscribed();
  });
  logger.info('cluster node started', { node: id, redis: node.where });
  return node;
}
