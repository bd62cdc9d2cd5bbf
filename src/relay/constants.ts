/**
 * Every TURN limit and default in one place, each with its reason (STYLE.md §5).
 * RFC numbers refer to RFC 8656 (TURN) unless said otherwise.
 */

/** §3.2 / §7.2: an allocation lives 600 s unless the client asks otherwise. */
export const DEFAULT_ALLOCATION_LIFETIME_S = 600;
/** §7.2: "the server SHOULD NOT allow a lifetime longer than 3600 s". */
export const MAX_ALLOCATION_LIFETIME_S = 3600;
/** §9: permissions last 300 s and are refreshed by CreatePermission or ChannelBind. */
export const PERMISSION_LIFETIME_S = 300;
/** §12: channel bindings last 600 s and are refreshed by re-binding. */
export const CHANNEL_LIFETIME_S = 600;
/** §12: after a binding expires, neither the number nor the peer may be re-bound to another for 5 min. */
export const CHANNEL_REUSE_GUARD_S = 300;
/** §12: the range of channel numbers a client may use; our client stays inside it. */
export const CHANNEL_MIN = 0x4000;
export const CHANNEL_MAX = 0x4fff;
/**
 * The server also accepts RFC 5766 §11's wider range 0x4000–0x7FFF (first two bits 01), as coturn
 * does: coturn's own turnutils_uclient binds numbers up to 0x7FFF. RFC 8656 reserved 0x5000+ only
 * for DTLS-SRTP demultiplexing (RFC 7983), which never shares a TURN server's port.
 */
export const ACCEPTED_CHANNEL_MAX = 0x7fff;

/** RFC 8489 §9.2: a nonce should be short-lived; 10 min like coturn's default stale-nonce window. */
export const DEFAULT_NONCE_TTL_S = 600;
/** RFC 8489 §9.2 / §14.3: REALM and NONCE are < 128 characters; USERNAME < 513 bytes. */
export const MAX_USERNAME_BYTES = 513;
/** Default realm when none is configured. */
export const DEFAULT_REALM = 'natpush';

/** Default TTL of short-lived TURN REST credentials (coturn's examples use 1 day; we use 1 h). */
export const DEFAULT_CREDENTIAL_TTL_S = 3600;

/** IANA: the STUN/TURN port. */
export const DEFAULT_TURN_PORT = 3478;

/**
 * Largest frame accepted from a TCP stream: a ChannelData header plus a 16-bit length is at most
 * 4 + 65535 (+3 padding), and STUN messages are 20 + a 16-bit length. Anything larger is a framing
 * error by construction, so this bound costs nothing.
 */
export const MAX_STREAM_FRAME_BYTES = 4 + 0xffff + 3;

/**
 * A TURN-over-TCP connection without an allocation is closed this long after it opened or lost
 * its allocation (issue 8, finding 6: idle sockets held file descriptors for ever). A client
 * allocates right after connecting (401 + Allocate: two round trips), so 10 s is generous.
 */
export const TCP_NO_ALLOCATION_TIMEOUT_MS = 10_000;
/**
 * TURN-over-TCP connections without an allocation (still in their Allocate handshake) per client
 * IPv4 address / IPv6 /64; those with one are bounded by the allocation caps. The whole server
 * takes maxAllocations + this many connections. 16: a few clients behind one NAT connecting at
 * once.
 */
export const TCP_HANDSHAKE_SLOTS = 16;
/** A TCP client that lets this much of our output queue up gets its relayed packets dropped. */
export const MAX_TCP_SEND_QUEUE_BYTES = 1024 * 1024;
/**
 * Receive slots of a relayed socket on the batched UDP I/O (udpIo 'mmsg'; the listener has
 * MMSG_DEFAULTS.slots): a relayed socket hears one allocation's peers. The relayed sockets of a
 * process share one receive buffer (mmsg-network.ts `shareReceiveBuffers`); with buffers of
 * their own, 64 slots were 256 KiB of RSS per allocation (11× coturn's) and 8 were 18–20 KiB.
 */
export const RELAYED_SOCKET_SLOTS = 8;
/** RFC 8656 §7.2 step 4: a reserved odd port is kept about 30 s for the RESERVATION-TOKEN. */
export const RESERVATION_LIFETIME_S = 30;
/** Attempts to find an even relayed port for EVEN-PORT (RFC 8656 §7.2 step 4). */
export const EVEN_PORT_ATTEMPTS = 16;

/** Per-user quotas (§7.2: 486 Allocation Quota Reached). */
export const DEFAULT_MAX_ALLOCATIONS_PER_USER = 10;
/**
 * Allocations per client source (an IPv4 address, or an IPv6 /64: one subscriber's prefix, in
 * which a host picks any address — RFC 7934 §4), 486 beyond. A carrier-grade NAT puts many users
 * behind one IPv4 address, so this is ten users' worth, not one; it stops one host from holding
 * the whole server with many user names (issue 8, finding 3).
 */
export const DEFAULT_MAX_ALLOCATIONS_PER_IP = 100;
/** Whole-server cap so memory stays bounded (§7.2: 508 Insufficient Capacity beyond it). */
export const DEFAULT_MAX_ALLOCATIONS = 10_000;
/** Per allocation: permissions and channels are bounded so one client cannot grow our memory. */
export const DEFAULT_MAX_PERMISSIONS_PER_ALLOCATION = 64;
export const DEFAULT_MAX_CHANNELS_PER_ALLOCATION = 64;
/**
 * Per-user bandwidth, bytes per second through all of the user's allocations, both directions;
 * 0 = unlimited. Default 0: a relay for peer sessions; operators set it with `--user-quota-bps`.
 */
export const DEFAULT_USER_BYTES_PER_SECOND = 0;
/**
 * Bandwidth of the whole server, bytes per second relayed in both directions; 0 = unlimited.
 * Default 0 for a standalone relay (the operator sized the host); `serve` sets SERVE_RELAY_LIMITS.
 */
export const DEFAULT_TOTAL_BYTES_PER_SECOND = 0;
/** Token bucket burst: one second's worth, but never below a maximal datagram. */
export const MIN_BUCKET_BYTES = 65_536;

/** How often the server sweeps expired allocations, permissions and channels. */
export const SWEEP_INTERVAL_MS = 5_000;

/** Client: refresh allocation / permissions / channels this long before they expire. */
export const CLIENT_REFRESH_MARGIN_S = 60;
/**
 * Client over UDP: a Binding indication this often keeps the NAT mapping toward the server alive
 * (Linux conntrack forgets unreplied UDP after 30 s, RFC 4787 REQ-5 allows 2 min; refreshes come
 * only every 4 min), so the 5-tuple, and with it the allocation, survives.
 */
export const CLIENT_KEEPALIVE_S = 15;
/** Client: per-request timeout after the RFC 8489 retransmissions (Rc=7, Rm=16 → 39.5 s); we cut it. */
export const CLIENT_REQUEST_TIMEOUT_MS = 10_000;
/** RFC 8489 §6.2.1: initial RTO 500 ms (we retransmit over UDP only). */
export const CLIENT_INITIAL_RTO_MS = 500;

/**
 * The relay inside `natpush serve` carries end-to-end sessions between natpush peers (sealed
 * notifications, acks, pings), not media, on a host that also runs signaling; its caps are set
 * for that (issue 8, finding 3: a relay that hands out credentials to any new key pair must bound
 * what one key pair, one address and everybody together can take).
 */
export const SERVE_RELAY_LIMITS = {
  /** A peer uses one allocation per session socket; a few more cover restarts before the old
   *  allocation expires (437 retries from fresh ports). */
  maxAllocationsPerUser: 4,
  /** As DEFAULT_MAX_ALLOCATIONS_PER_IP: a CGN address carries many peers. */
  maxAllocationsPerIp: DEFAULT_MAX_ALLOCATIONS_PER_IP,
  /** Whole relay: bounds memory (~10 KiB per allocation with its socket) on a shared host. */
  maxAllocations: 2_000,
  /** 256 KiB/s per peer: a 16 KiB notification takes 64 ms; a session needs far less than media. */
  userBytesPerSecond: 256 * 1024,
  /** 32 MiB/s (~270 Mbit/s) for all peers together, so the relay cannot saturate the host's link
   *  and starve signaling. */
  totalBytesPerSecond: 32 * 1024 * 1024,
} as const;

/**
 * The peer gate of serve's relay (issue 8, finding 3; src/signaling/rendezvous.ts): how long a
 * rendezvous between two peers and the addresses seen for a peer are remembered after their last
 * use. Longer than a permission's lifetime (300 s) plus the client's refresh margin, so a session
 * whose permissions are refreshed (each refresh re-checks and re-arms the gate) never loses it.
 */
export const RENDEZVOUS_TTL_MS = 15 * 60_000;
/** Peers tracked by the gate at once (oldest forgotten first; forgetting only revokes). */
export const RENDEZVOUS_MAX_PEERS = 100_000;
/** Rendezvous partners remembered per peer (a peer rarely talks to more at once). */
export const RENDEZVOUS_MAX_PARTNERS_PER_PEER = 64;
/** Addresses remembered per peer (signaling connection, allocations' sources, relayed address). */
export const RENDEZVOUS_MAX_ADDRESSES_PER_PEER = 8;

/**
 * Error replies over UDP (issue 8, finding 10: reflection). A spoofed request draws its error to
 * the victim, so (a) each source IP gets the STUN server's rate limit for them
 * (src/stun/constants.ts SERVER_DEFAULTS.rateLimit) and (b) a reply stays within
 * ERROR_REPLY_MAX_AMPLIFICATION × the request on the wire (IP + UDP headers counted, as RFC 5780
 * §9.1 / binding-responder.ts measure); the reason phrase is only included while the reply stays
 * within 1×. A reply that cannot fit is not sent.
 */
export const ERROR_REPLY_MAX_AMPLIFICATION = 2;

/**
 * Error replies over UDP of one server process — each `relay --workers` worker has its own —
 * whatever their sources, in bytes on the wire per second (a second's worth is the burst).
 * The per-source limit above gives every new source a full bucket, and a flood with spoofed
 * sources brings a new source per packet (and makes the bounded source table forget the old
 * ones), so without this bound the reflected bytes grew with the flood. 256 KiB/s is ~2,600
 * 401 challenges/s (~100 bytes each; every honest Allocate draws one): a thousand clients
 * allocating in the same second are answered, and one worker can never reflect more than
 * ~2 Mbit/s however many addresses a flood spoofs.
 */
export const ERROR_REPLY_BYTES_PER_SECOND = 256 * 1024;

/**
 * `relay --workers`: a worker hands datagrams of another worker's clients to that worker over IPC
 * (server/siblings.ts) at most this many bytes a second (burst one second). Each one crosses two
 * pipes through the primary as base64 JSON, which also carries the leases and mirrors every
 * Allocate waits for: a flood from such a client must not hold those up. 8 MiB/s is ~50 Mbit/s
 * of media per worker, more than the clients a replacement re-hashes usually carry; the rest is
 * dropped (counted 'handoff-budget') as congestion would drop it.
 */
export const OWNER_HANDOFF_BYTES_PER_SECOND = 8 * 1024 * 1024;
/** How many sibling lookups (SiblingExchange.lookup) one worker has in flight; a request that
 *  would need one more is judged on what the worker knows (a flood of CreatePermissions toward
 *  unknown ports of ours must not become a flood of IPC questions). */
export const MAX_SIBLING_LOOKUPS = 64;
