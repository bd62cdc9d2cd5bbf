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
  /**
   * `watch:{peer}` (keys.ts) lives this long unless a node with watchers of the peer renews it
   * (watch-leases.ts): 10 min. Entries leave when their watcher stops watching (SREM) or a
   * change finds their node gone (remote-presence.ts); this bounds what a crashed node left in
   * a key nobody renews, and the keys of peer ids that were watched once and never again.
   */
  watchTtlMs: 600_000,
  /** Renewal period: a third of the TTL, so two renewals may fail (a Redis restart). */
  watchRefreshMs: 200_000,
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

/**
 * Relay fleets (relay-registration.ts, relay-fleet.ts): timings and bounds, each with its reason.
 */
export const RELAY_FLEET = {
  /** A relay re-reports its record (URLs, region, load) this often: load figures lag ≤ 2 s. */
  reportMs: 2_000,
  /**
   * A relay's record lives this long without a report: 6 s, three reports, so two may be lost
   * (a GC pause, a Redis restart of ~1 s) before a live relay drops out. A dead relay leaves the
   * rotation within this plus one `refreshMs` of the serve nodes.
   */
  ttlMs: 6_000,
  /** serve re-reads the fleet this often (one SMEMBERS + one MGET: two round trips). */
  refreshMs: 1_000,
  /**
   * Most relay records read: 1,000. A fleet larger than this is not what one primary Redis and
   * one picker scanning every record per credential are made for; the rest are ignored (logged).
   */
  maxRelays: 1_000,
  /** Most URLs one relay may advertise: the `turn-credentials` reply carries ≤ 4 (protocol.ts). */
  maxUrlsPerRelay: 4,
  /** Longest region label: a short operator label (`eu-west`), not free text. */
  maxRegionChars: 64,
  /**
   * Credentials handed for a registered relay count towards its load for about this long (a
   * decaying count): the time until its next report includes the allocations they made
   * (`reportMs` + `refreshMs` + a second of margin). Without it every peer asking between two
   * reports would get the same least-loaded relay.
   */
  recentTauMs: 4_000,
  /**
   * A relay's packets per second worth one allocation in its load score: an allocation that
   * relays nothing costs a relay little (a table entry, refreshes every few minutes); 100 packets/s
   * of relaying cost about what a new busy allocation does.
   */
  packetsPerAllocation: 100,
  /**
   * A peer asking again within this long after it was handed a relay is handed another one when
   * there is another (its allocation there failed — the only reason a peer re-asks before its
   * credentials near expiry, ttl minus a few minutes).
   */
  reaskWindowMs: 60_000,
  /**
   * Peers whose last relay is remembered for `reaskWindowMs`: 100,000 (least recently handed
   * dropped first). ~100 bytes each: ~10 MB at most, the size of a busy node's peer table.
   */
  maxRemembered: 100_000,
} as const;

/**
 * `relay-seen:{ip}` (keys.ts; rendezvous-pairs.ts armSeen): peers seen at one IP. Its TTL is
 * re-armed at every write, so without a cap one IP that keeps bringing new key pairs (open
 * registration: a key pair is free) grows it for ever, and every permission check toward that IP
 * read all of it. 10,000: a relay's whole allocation table (relay/constants.ts
 * DEFAULT_MAX_ALLOCATIONS), since every allocation of a relay is noted at its relayed IP, and far
 * above the peers behind one carrier-grade NAT address; ~0.5 MB of Redis at most per IP. Past it
 * the soonest to expire are forgotten (a forgotten peer is refused a relay permission toward that
 * IP until it is seen there again — at its next connection or allocation).
 */
export const RELAY_SEEN = {
  maxPeersPerIp: 10_000,
} as const;
