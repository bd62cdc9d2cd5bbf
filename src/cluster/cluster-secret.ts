/**
 * The cluster's session-token secret (session-tokens.ts): 32 random bytes, set once in Redis
 * by whichever node starts first (SET NX) and read by every other, so a session token minted by
 * one node is valid at all. It lives as long as the Redis data: an operator rotates it by
 * deleting the key and restarting the nodes (clients re-authenticate, as after any restart).
 */
import { randomBytes } from 'node:crypto';
import type { ClusterNode } from './cluster-node.js';

export async function clusterSessionSecret(c: ClusterNode): Promise<Buffer> {
  await c.redis.set(c.keys.secret, randomBytes(32).toString('base64'), 'NX');
  const v = await c.redis.get(c.keys.secret);
  const b = Buffer.from(v ?? '', 'base64');
  if (b.length < 32) throw new Error('cluster session secret in Redis is malformed');
  return b;
}
