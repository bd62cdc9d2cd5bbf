/**
 * What `natpush serve --redis URL` adds to the signaling server's options: the cluster node,
 * the Redis mailbox on it and the shared session-token secret. One call, so the CLI stays thin.
 */
import type { Logger } from '../util/logger.js';
import { RedisStore } from '../signaling/store/redis-store.js';
import type { PeerLimits } from '../signaling/store/peer-limits.js';
import { startClusterNode, type ClusterNode, type ClusterNodeOptions } from './cluster-node.js';
import { clusterSessionSecret } from './cluster-secret.js';

export interface ClusterServerOptions {
  cluster: ClusterNode;
  store: RedisStore;
  sessionSecret: Buffer;
}

export async function openCluster(
  redisUrl: string,
  logger: Logger,
  more: Omit<ClusterNodeOptions, 'redisUrl' | 'logger'> = {},
  peers?: Partial<PeerLimits>,
): Promise<ClusterServerOptions> {
  const cluster = await startClusterNode({ ...more, redisUrl, logger });
  try {
    const store = await RedisStore.open({ cluster, ...(peers ? { peers } : {}) });
    const p = await store.persistence();
    if (p && (p.appendonly !== 'yes' || p.appendfsync !== 'always')) {
      // redis-store.ts: only AOF with appendfsync always makes "accepted" mean "on disk".
      logger.warn('redis persistence is weaker than the 202 promises with SQLite', {
        appendonly: p.appendonly,
        appendfsync: p.appendfsync,
        want: 'appendonly yes, appendfsync always',
      });
    }
    return { cluster, store, sessionSecret: await clusterSessionSecret(cluster) };
  } catch (err) {
    await cluster.close();
    throw err;
  }
}
