/**
 * Every timer and bound of the punch module, with its default and its reason (STYLE.md §5, §8).
 */

/**
 * RFC 8445 §5.1.2.2 type preferences (126 host, 110 peer-reflexive, 100 server-reflexive,
 * 0 relayed): a direct path always outranks a relayed one.
 */
export const TYPE_PREFERENCE = { host: 126, prflx: 110, srflx: 100, relay: 0 } as const;

export const PUNCH_DEFAULTS = {
  /**
   * Ta, the pacing of new checks (RFC 8445 §14.2: default 50 ms, never below 5 ms). natpush runs
   * one component and at most a few dozen pairs per session (typically 3–6: host, srflx, relay
   * on each side), each check ~100 bytes, so the floor of 5 ms (200 checks/s ≈ 20 KB/s for the
   * few tens of ms it takes to walk the list) stays far under any link. It matters because the
   * unreachable host pairs rank first: at 20 ms they held the working srflx pair's first check
   * back by 20–60 ms, which is on the critical path of every punch.
   */
  taMs: 5,
  /**
   * Check retransmission (RFC 8445 §14.3 leaves RTO to the agent; RFC 8489 §6.2.1 schedule with a
   * shorter first RTO): 200 ms doubling, 7 requests, last wait 4 RTO → sends at 0, 0.2, 0.6, 1.4,
   * 3.0, 6.2, 12.6 s and gives up at 13.4 s. The dense start lets both sides' first checks cross
   * while the far NAT is still closed; the backoff keeps a dead pair cheap.
   */
  checkRetransmission: { rtoMs: 200, maxRequests: 7, lastWaitMultiplier: 4 },
  /**
   * How long the controlling agent waits for a direct pair before it nominates a relayed pair that
   * already works. A direct pair that will succeed does so within a few round trips plus the
   * start skew; 3 s covers 100 ms one-way links with loss, and the relay is the fallback anyway.
   * Not waited when no direct pair can still win (nomination.ts), and a direct pair that answers
   * after a relay selection still takes over (pair-upgrade.ts).
   */
  directGraceMs: 3_000,
  /** The whole punch (checks) gives up after this; the last check retransmission ends at 13.4 s. */
  punchTimeoutMs: 15_000,
  /** Candidate gathering waits this long for server-reflexive and relayed candidates. */
  gatherTimeoutMs: 3_000,
  /**
   * Candidates gathered ahead of time (when the connector is made, and again in the background
   * when they age or the relay changes) are handed out this long. The srflx candidate is the
   * socket's NAT mapping, which Linux conntrack keeps ≥ 30 s after the last packet (NETSIM-NOTES;
   * RFC 4787 REQ-5 asks ≥ 2 min); 20 s stays inside that with margin, and the relay allocation is
   * kept alive by the TurnClient anyway. Reusing them takes the STUN and TURN round trips (6 of
   * them at 25 ms links: ~150 ms) off both sides' critical path.
   */
  warmCandidatesMs: 20_000,
  /**
   * A registered offer (connector `registerOffers`) is re-gathered and re-registered after this
   * long without use: its server-reflexive candidate is the NAT mapping toward serve's STUN, which
   * the Binding request keeps alive (Linux conntrack forgets an unreplied UDP flow after 30 s);
   * one ~100-byte request and a WebSocket frame every 20 s per peer.
   */
  offerRefreshMs: 20_000,
  /** Waiting for the other side's `candidates` and the server's `punch-start`. */
  signalTimeoutMs: 10_000,
  /**
   * The controlled side starts its checks this much before `punch-start.at`. When both start at
   * the same instant, each first check reaches the other NAT just as that NAT opens its mapping,
   * and one of them is dropped at random: seen in netsim, whose link delay holds each outbound
   * packet before the NAT confirms its conntrack entry, so a mapping opens one link delay after
   * the host sent; a real NAT on a slow uplink behaves the same. The controlling side's first
   * check is the one that counts — its answer selects the path and the controlled side selects
   * when its own triggered check is answered, by the time the first data arrives — so the
   * controlled side opens its NAT first. 10 ms covers the skew of two clock offsets measured
   * through serve; a real path's delay makes the head start harmless either way.
   */
  controlledHeadStartMs: 10,
  /** A `punch-start.at` further ahead than this is not believed (clock offset gone wrong). */
  maxStartDelayMs: 5_000,
  /**
   * RFC 7675 §5.1: consent is checked every 5 s (randomised 0.8–1.2×) and lost after 30 s without
   * an authenticated response. 5 s also keeps the NAT mapping alive well under Linux conntrack's
   * 30 s unreplied UDP timeout (NETSIM-NOTES).
   */
  consentIntervalMs: 5_000,
  consentTimeoutMs: 30_000,
  /** One consent check: 500 ms doubling, 3 requests, last wait 2 RTO = done within 4.5 s. */
  consentRetransmission: { rtoMs: 500, maxRequests: 3, lastWaitMultiplier: 2 },
  /** A relayed candidate is re-allocated with fresh credentials this long before they expire. */
  relayCredentialMarginMs: 60_000,
  /** Outstanding check transactions per session (bounds memory: pairs × retransmissions). */
  maxPendingChecks: 256,
} as const;

/**
 * Bounds on tables fed by the network or the other peer (STYLE.md §8).
 */
export const PUNCH_LIMITS = {
  /** Remote candidates per session: the signaling schema allows 32 (LIMITS.maxCandidates);
   *  peer-reflexive ones learned from checks get a few more slots. */
  maxRemoteCandidates: 40,
  /** Candidate pairs per session: 2 local bases × maxRemoteCandidates. */
  maxPairs: 80,
  /** Triggered-check queue (RFC 8445 §6.1.4.1): one entry per pair at most. */
  maxTriggered: 80,
  /** Concurrent sessions (agents) on one connector; each holds a checklist and timers. */
  maxSessions: 64,
  /** Host candidates offered (one per interface address); a host with more is unusual. */
  maxHostCandidates: 8,
} as const;
