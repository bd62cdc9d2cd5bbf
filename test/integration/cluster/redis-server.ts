/** The tests' redis-server: the same launcher the cluster bench uses (one copy of it). */
export { startRedis, type TestRedis } from '../../../bench/lib/cluster-redis.js';
