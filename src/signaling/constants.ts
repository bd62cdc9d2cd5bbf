/**
 * Every limit and timing of the signaling server and client, with its default and the reason for
 * it (STYLE.md §5, §8). Components take these through their `...Options`; the CLI may override
 * some. Anchor: libp2p circuit-relay-v2 `constants.ts`, tailscale derpserver's per-peer queue.
 */

/** Protocol version carried in `hello` / `welcome`; bumped on any incompatible change. */
export const PROTOCOL_VERSION = 1;

/** WebSocket subprotocol name, so a proxy or a log line shows what speaks on the socket. */
export const WS_SUBPROTOCOL = 'natpush.v1';

/** Path of the WebSocket endpoint on the HTTP server. */
export const WS_PATH = '/v1/ws';

/** Default TCP port of `natpush serve` (HTTP + WebSocket). Unassigned by IANA, easy to remember. */
export const DEFAULT_PORT = 8787;

export const LIMITS = {
  /**
   * Largest JSON frame we parse (64 KiB). A notification body is at most `maxBodyBytes`; the
   * rest is envelope and a candidate list. Larger frames get `NATPUSH_ERR_FRAME_TOO_LARGE`.
   */
  maxFrameBytes: 64 * 1024,
  /**
   * Hard cap handed to `ws` as `maxPayload` (1 MiB): frames above it are not even buffered; ws
   * closes with 1009. Between `maxFrameBytes` and this we answer with an error frame first.
   */
  wsHardMaxPayload: 1024 * 1024,
  /** Notification body, UTF-8 bytes (16 KiB): a push, not a file transfer; keeps mailboxes small. */
  maxBodyBytes: 16 * 1024,
  /** Topic length: a routing label, like an MQTT topic segment. */
  maxTopicLength: 128,
  /** Client-chosen ids and refs (base64url of 16 random bytes is 22 chars). */
  maxIdLength: 64,
  /** Default notification TTL: one day, like a mobile push service's default collapse window. */
  defaultTtlSeconds: 24 * 3600,
  /** Longest TTL: 7 days; beyond it a notification is stale and only fills the mailbox. */
  maxTtlSeconds: 7 * 24 * 3600,
  /** Stored notifications per recipient; a full mailbox answers NATPUSH_ERR_MAILBOX_FULL. */
  mailboxQuota: 10_000,
  /**
   * Messages per second a peer may send over WebSocket (token bucket), and the burst. Above
   * the burst the peer is told NATPUSH_ERR_RATE_LIMITED and disconnected (a flood is hostile).
   */
  ratePerSecond: 1_000,
  rateBurst: 2_000,
  /**
   * Concurrent connections from one IP address. Generous because carrier-grade NAT (RFC 6598)
   * puts many subscribers behind one address; it still stops one host from exhausting fds.
   */
  maxConnectionsPerAddress: 1_024,
  /** Total connections of one node: about what 1 GiB holds with headroom (see bench). */
  maxConnections: 100_000,
  /**
   * HTTP requests per second from one address (token bucket) and the burst. An application
   * server posting notifications is one address; above this it gets 429 RATE_LIMITED.
   */
  httpRatePerSecond: 2_000,
  httpRateBurst: 4_000,
  /** Addresses whose HTTP rate is tracked at once (util/token-bucket.ts: oldest half forgotten). */
  maxTrackedHttpAddresses: 10_000,
  /** HTTP request bodies (POST notification, session): one notification plus envelope. */
  maxHttpBodyBytes: 64 * 1024,
  /** Peers one connection may watch for presence. */
  maxWatchedPeers: 256,
  /** Candidates in one rendezvous message (host + srflx + relay per interface, with room). */
  maxCandidates: 32,
  /** Ids in one ack message. */
  maxAckIds: 256,
  /**
   * Unacked notifications in flight to one peer. Bounds the per-peer send queue; the rest stays
   * in the mailbox until acks open the window (accepted notifications are never dropped).
   */
  deliveryWindow: 64,
  /**
   * Bytes buffered in a WebSocket before we stop sending to it: every frame after the handshake
   * checks it (ws-connection.ts). Non-notification frames (presence, rendezvous) are dropped with
   * reason `queue_full`; replies to the peer's own requests (pong, accepted, key, error,
   * turn-credentials) with reason `slow_consumer`; notifications just wait in the mailbox.
   */
  maxBufferedBytes: 1024 * 1024,
  /**
   * Replies dropped in a row (the buffer never fell below `maxBufferedBytes` between them)
   * before the connection is closed with NATPUSH_ERR_SLOW_CONSUMER: a peer that keeps asking
   * and never reads (issue 8: +194 MB in 43 s before replies were bounded). A client that
   * reads drains below the bound and the count restarts; 256 is four delivery windows of
   * requests, more than an honest client has outstanding while it waits for its answers.
   */
  maxUnreadReplies: 256,
  /**
   * Default lifetime of the TURN credentials `serve` hands to an authenticated peer: 1 h. Much
   * shorter than coturn's 24 h examples, because a leaked username/password then opens the relay
   * only briefly and a peer simply asks again (one frame) before it needs a new allocation; long
   * enough that an allocation refreshed every 10 min (RFC 8656 §7.2) lives through several refreshes.
   * It also bounds an allocation's life: RFC 8656 §5 binds an allocation to the username it was
   * created with and the relay checks the expiry on every request, Refresh included (as coturn
   * does), so after it the peer asks again and allocates anew.
   */
  turnCredentialTtlSeconds: 3600,
  /** Longest TTL a server may be configured with (1 day, coturn's example value). */
  maxTurnCredentialTtlSeconds: 24 * 3600,
  /**
   * Peers in one `allow` list (a contact list). 1,024 is far above a person's or a device
   * fleet's working set and keeps one list under ~40 KB, so it fits in one `maxFrameBytes`
   * frame; `anyone: true` covers the "public" case without a list.
   */
  maxAllowedPeers: 1_024,
  /**
   * Decoded bytes of one `p2p` frame: a session datagram that would fit a 1,500-byte Ethernet
   * MTU once UDP/IP/TURN headers are added (the session layer fragments to `mtu` 1,200 anyway).
   */
  maxP2pDataBytes: 1_400,
  /**
   * Body of a notification a peer sends (`notify` over WebSocket): a sealed 16 KiB plaintext
   * (Noise X handshake + AEAD tag + framing, base64url ≈ 4/3) fits in 24 KiB. API-key HTTP
   * bodies stay at `maxBodyBytes` (they are not sealed by natpush).
   */
  maxSealedBodyBytes: 24 * 1024,
  /**
   * Long-poll sessions at once (one per peer polling). Each holds at most 2 × `deliveryWindow`
   * buffered notifications and one timer; the same order as `maxConnections`, because a poll
   * client is a connection that happens to come and go. Above it a new poller gets
   * TOO_MANY_CONNECTIONS (429) until one times out (`pollPresenceGraceMs`).
   */
  maxPollSessions: 100_000,
} as const;

/**
 * Every table of the signaling server's routing layer and what bounds it (STYLE.md §8; issue 8,
 * finding 2). Each is keyed by something the server admitted, never by a name a client made up.
 *
 * | table (file)                               | bound                                                        |
 * | ------------------------------------------ | ------------------------------------------------------------ |
 * | Delivery routes (delivery.ts)              | one per live session: `maxConnections` + `maxPollSessions`   |
 * | Route in-flight map (delivery.ts)          | `deliveryWindow` per route                                   |
 * | Early accepts (early-accepts.ts)           | each is in a route's in-flight map; lives ≤ `earlyAckMs`     |
 * | PollSession buffer (http-transports.ts)    | 2 × `deliveryWindow`                                         |
 * | HttpApi poll sessions (http-api.ts)        | `maxPollSessions`                                            |
 * | HttpApi rate buckets (http-api.ts)         | `maxTrackedHttpAddresses`, oldest half forgotten when full   |
 * | WsGateway connections, per-address counts  | `maxConnections` (+ those being refused, closed at once)     |
 * | Presence channels, allow lists (presence)  | one per WebSocket; a list ≤ `maxAllowedPeers`                |
 * | Presence watch lists, watcher sets         | one per WebSocket; a list ≤ `maxWatchedPeers`; the reverse   |
 * |                                            | index holds the same pairs, so ≤ connections × maxWatched    |
 * | Presence online map (presence.ts)          | one per route                                                |
 * | WebSocket send buffer (ws-connection.ts)   | `maxBufferedBytes` + one frame; beyond it frames are dropped  |
 * |                                            | and `maxUnreadReplies` dropped replies close the connection  |
 */
export const TIMING = {
  /** A connection must finish hello/challenge/auth within this, or it is closed. */
  handshakeTimeoutMs: 10_000,
  /** A challenge is valid this long after it is issued, and only once. */
  challengeTtlMs: 30_000,
  /** Unacked notifications are sent again after this (the receiver dedupes by id). */
  retryAfterMs: 5_000,
  /**
   * WebSocket ping interval. Linux conntrack drops idle TCP mappings after hours, but home
   * routers and CGNs often after 60–300 s (RFC 5382 §5 asks for ≥ 2 h 4 min; many ignore it),
   * so 25 s keeps the path open and detects dead peers; two missed pongs close the socket.
   */
  pingIntervalMs: 25_000,
  /** Longest a long-poll request is held open when there is nothing to deliver. */
  maxPollWaitMs: 30_000,
  /** A poll client counts as online this long after its last poll ended. */
  pollPresenceGraceMs: 35_000,
  /** SSE comment heartbeat, so proxies do not time out an idle stream. */
  sseHeartbeatMs: 15_000,
  /** Session tokens (for SSE / long-poll) are valid this long. */
  sessionTokenTtlMs: 3_600_000,
  /** Mailbox TTL sweep interval. */
  expirySweepMs: 60_000,
  /**
   * A connection closed as a slow consumer (NATPUSH_ERR_SLOW_CONSUMER) gets this long to read
   * its error and close frames, then it is cut. Not ws's 30 s close timeout: its send buffer
   * (up to `maxBufferedBytes` of frames plus their bookkeeping, ~2 MiB) is exactly what must go,
   * and a peer that has not read for that long will not read the close frame in time either.
   */
  slowConsumerLingerMs: 1_000,
  /**
   * How far ahead of "now" a coordinated punch start is scheduled, beyond half the larger of the
   * two sides' RTTs (sampled at login, challenge→auth, then smoothed from pings). Half an RTT is
   * when the farther side's `punch-start` lands; the margin covers the jitter of that estimate and
   * the time both sides take to read the frame and send the first check (event-loop delay on a
   * loaded host, a few ms). It only needs to be "about together": the side that starts early
   * loses its first check at the far NAT and its retransmission (200 ms) or the other side's
   * triggered check crosses instead, so a larger lead buys nothing but latency (250 ms measured
   * cost 214 ms of the time to a direct path at 25 ms links).
   */
  punchLeadMs: 20,
  /** Group commit: how long accepted notifications wait for company before one fsync. */
  groupCommitMaxDelayMs: 1,
  /**
   * The fast path of a local store (early-accepts.ts): a notification sent to its recipient
   * before it is written waits this long for the recipient's ack; acked in time, it is never
   * written. 50 ms, not 10: under load an ack takes longer than 10 ms (the median notification
   * took 20–30 ms end to end in bench/cluster-throughput at load 11–14), and each one that misses
   * the wait is written, fsynced and deleted — more CPU, slower acks, more misses. In 10
   * alternating pairs (`--early-ack-ms=10` vs `=50`): never written 84–97 % vs ~100 %, server
   * CPU per notification median 49.8 vs 45.6 µs, worst 91 vs 72 µs. The cost: `accepted` for a
   * recipient that does not ack in time comes up to this much later (0 turns the path off).
   */
  earlyAckMs: 50,
} as const;

/** Client reconnect: exponential backoff with full jitter (AWS architecture blog, 2015). */
export const BACKOFF = {
  initialMs: 250,
  maxMs: 30_000,
  factor: 2,
} as const;

// ---------------------------------------------------------------------------------------------
// Mailbox store quotas (a2-store; issue 8, finding 4). Enforced by store/usage.ts when a
// notification is accepted (mailbox.ts), on top of LIMITS.mailboxQuota per recipient. Stores take
// overrides in their options (`new SqliteStore(file, { quotas })`).
// ---------------------------------------------------------------------------------------------

export const STORE_QUOTAS = {
  /**
   * Slots one peer may hold in one recipient's mailbox: 500, a twentieth of the mailbox. One key
   * pair filled a 10,000-slot mailbox in 14 s; now it stops at 500 (NATPUSH_ERR_SENDER_QUOTA,
   * 507) until the recipient drains them. The mailbox also holds what is in flight to an online
   * recipient, so this is the largest unacked burst one peer may send to another: several times
   * the delivery window (64) and a 300-notification burst of the tests, far above a chat backlog.
   * A sender that needs more is sending faster than its peer reads.
   */
  perPeerSenderSlots: 500,
  /**
   * Share of a recipient's mailbox (LIMITS.mailboxQuota) that peers together may fill: half.
   * Registration is open, so many key pairs can each use their 100 slots; whatever they do, the
   * other half (5,000 slots) is the app server's (API-key traffic), which is never starved.
   */
  peerMailboxShare: 0.5,
  /**
   * Notifications in the whole store: 1,000,000 — 100 full mailboxes, ~1 GiB of SQLite at the
   * average size of the throughput bench. Above it NATPUSH_ERR_STORE_QUOTA (507).
   */
  maxNotifications: 1_000_000,
  /**
   * Bytes in the whole store (ids, sender, recipient, topic and body as UTF-8 plus 64 bytes per
   * row, store/usage.ts): 2 GiB, so a peer flood of maximum-size bodies cannot fill the disk of
   * a small VM. An estimate of the disk used, not the file size (SQLite reuses freed pages); a
   * disk that fills anyway is reported as NATPUSH_ERR_STORE_DISK_FULL and loses nothing accepted.
   */
  maxBytes: 2 * 1024 ** 3,
  /**
   * Share of the store-wide count and bytes that peers together may use: half, so strangers with
   * fresh keys can never fill the store for the app server.
   */
  peerStoreShare: 0.5,
} as const;

/** When the mailbox store cannot be written (a full disk, a read-only file system). */
export const STORE_RECOVERY = {
  /**
   * A batch that failed to commit is rolled back whole; its notifications are refused with a
   * NATPUSH_ERR_STORE_… code (the sender still has them and retries), but registrations and acks
   * answer nobody, so they stay queued and the commit is retried this often until it succeeds.
   */
  retryMs: 1_000,
  /**
   * Acks kept for that retry: 65,536 (a few MB). Beyond it the oldest are dropped — a lost ack
   * only means a redelivery, which the receiver's dedupe answers. Registrations need no bound
   * of their own: each peer is queued at most once (mailbox.ts `#known`).
   */
  maxRetriedAcks: 65_536,
} as const;

/**
 * TCP connections of the HTTP + WebSocket server (issue 8, finding 6: 166 idle sockets under
 * `ulimit -n 200` made /healthz time out; a trickled body lived forever). server.ts applies them.
 */
export const CONNECTION_LIMITS = {
  /**
   * All connections at once (HTTP, SSE, long-poll, WebSocket). Lowered at start-up to half the
   * process's open-file limit (/proc/self/limits), so accept() never hits EMFILE: the rest is
   * left to the store, STUN, the relay's sockets.
   */
  maxConnections: 10_000,
  /**
   * Connections per client IPv4 address or IPv6 /64 (RFC 7934 §4: one subscriber's prefix). A
   * CGN puts many peers behind one address, so this is generous, but never more than a quarter
   * of maxConnections: one address can never fill the server.
   */
  maxConnectionsPerIp: 256,
  /** Headers must be complete this long after the connection opened or the last response ended
   *  (slowloris); idle sockets that never send a request go too. */
  headersTimeoutMs: 10_000,
  /** The whole request, body included (bodies are ≤ 24 KiB: this allows < 1 KiB/s). */
  requestTimeoutMs: 30_000,
  /** An idle kept-alive connection is closed after this (Node's default is 5 s as well). */
  keepAliveTimeoutMs: 5_000,
  /** How often Node checks the two timeouts above (its default, 30 s, would let them overrun). */
  timeoutCheckIntervalMs: 1_000,
} as const;
