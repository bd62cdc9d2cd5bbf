/** Timings and bounds of the Redis cluster mode, each with its reason. */
export const CLUSTER_TIMING = {
  /**
   * A node's liveness key lives this long without a heartbeat: 6 s. A killed node's peers show
   * offline (and its routes go) within 6–8 s; short enough that a watcher is not fooled long,
   * long enough that a GC pause or a Redis failover (Sentinel's default down-after is 5 s...
   * plus election) does not reap a live node. A reaped live node claims its peers back anyway.
   */
  nodeTtlMs: 6_000,
  /** Heartbeat (and dead-node sweep) period: a third of the TTL, so two beats may be lost. */
  heartbeatMs: 2_000,
  /** Mailbox sweep of expired notifications (one node at a time is enough; all do, harmlessly). */
  expirySweepMs: 10_000,
  /** Most expired notifications one sweep deletes (one Lua script must stay short: ~ms). */
  expiryBatch: 1_000,
  /** ioredis reconnect backoff: 50 ms × attempt, at most this. */
  maxReconnectDelayMs: 1_000,
} as const;

export const CLUSTER_LIMITS = {
  /**
   * Notifications of one claimed peer's mailbox held in the node's memory: 128, twice the
   * delivery window (LIMITS.deliveryWindow = 64), so a window can be refilled while the other
   * half is in flight. The rest stays in Redis and is read as the window drains. Bound of the
   * local copies: this × peers connected here (≤ maxConnections + maxPollSessions).
   */
  localMailboxDepth: 128,
} as const;
