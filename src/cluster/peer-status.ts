/**
 * A peer's presence and mailbox depth as the whole cluster sees them, for the application's
 * `GET /v1/peers/{id}` (API key only): its route, if the node it names is alive, and the size of
 * its mailbox in Redis. One round trip (a pipeline of three reads).
 */
import type { Transport } from '../signaling/protocol.js';
import type { ClusterNode } from './cluster-node.js';

export async function clusterPeerStatus(
  c: ClusterNode,
  peer: string,
): Promise<{ transport: Transport | undefined; mailbox: number }> {
  const route = await c.redis.get(c.keys.route(peer));
  const node = route ? route.slice(0, route.indexOf('\t')) : undefined;
  const res = await c.redis
    .multi()
    .exists(c.keys.node(node ?? '-'))
    .zcard(`${c.keys.prefix}mb:${peer}`)
    .exec();
  const alive = node !== undefined && res?.[0]?.[1] === 1;
  return {
    transport: alive ? (route!.slice(route!.indexOf('\t') + 1) as Transport) : undefined,
    mailbox: Number(res?.[1]?.[1] ?? 0),
  };
}
