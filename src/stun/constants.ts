/**
 * Wire constants and every limit of the STUN module, each with its reason (STYLE.md §5, §8).
 */

/** RFC 8489 §5: fixed value in bytes 4–7 of every message. */
export const MAGIC_COOKIE = 0x2112a442;
export const HEADER_BYTES = 20;
export const TRANSACTION_ID_BYTES = 12;
/** RFC 8489 §14.7: FINGERPRINT is CRC-32 XOR 0x5354554e ("STUN"). */
export const FINGERPRINT_XOR = 0x5354554e;

/**
 * Limits on decoding. A STUN message is at most 20 + 65535 bytes (16-bit length field); over UDP
 * it is a single datagram. Attributes per message: a TURN Allocate/Send carries about ten, ICE
 * checks about eight; 64 leaves room for future extensions while bounding per-message work.
 */
export const LIMITS = {
  maxMessageBytes: HEADER_BYTES + 0xffff,
  maxAttributes: 64,
  /** RFC 8489 §14.3: USERNAME is less than 513 bytes. */
  maxUsernameBytes: 512,
  /** RFC 8489 §14.8, §14.9, §14.10, §14.14: REALM, NONCE, reason phrase and SOFTWARE are fewer
   *  than 128 characters, which can be as long as 763 bytes. */
  maxTextBytes: 763,
  /** RFC 8489 §14.11: UNKNOWN-ATTRIBUTES is a list of 16-bit types; bounded by maxAttributes. */
  maxUnknownAttributes: 64,
  /** PASSWORD-ALGORITHMS (RFC 8489 §14.11): two are defined; bound the list anyway. */
  maxPasswordAlgorithms: 16,
} as const;

/**
 * RFC 8489 §6.2.1 retransmission over UDP: initial RTO 500 ms (recommended, > 500 ms allowed),
 * doubling; Rc = 7 requests; after the last one wait Rm × RTO = 16 × 500 ms = 8 s.
 * A transaction therefore gives up after 500×(1+2+4+8+16+32) + 8000 = 39.5 s.
 */
export const RFC8489_RETRANSMISSION = {
  rtoMs: 500,
  maxRequests: 7,
  lastWaitMultiplier: 16,
} as const;

/**
 * RFC 8489 §6.2.1 permits shorter timers where the network is known to be fast ("... 500 ms is
 * recommended; a value lower than 500 ms could be used on fixed-line access links"). LAN and
 * netcheck probes use this: 100 ms, 4 requests, last wait 4 RTO → gives up after 1.9 s.
 */
export const LAN_RETRANSMISSION = {
  rtoMs: 100,
  maxRequests: 4,
  lastWaitMultiplier: 4,
} as const;

/** RFC 8489 §6.2.2: over TCP a transaction times out after Ti = 39.5 s with no retransmission. */
export const TCP_TRANSACTION_TIMEOUT_MS = 39_500;

/** IP + UDP header bytes around a datagram (RFC 791 + RFC 768; RFC 8200 + RFC 768). */
export const IPV4_UDP_HEADER_BYTES = 28;
export const IPV6_UDP_HEADER_BYTES = 48;

/** Server defaults (`StunServerOptions`). */
export const SERVER_DEFAULTS = {
  software: 'natpush',
  /** RFC 5780 §9.1 asks servers not to be used for amplification: responses at most 2× the
   *  request on the wire (see binding-responder.ts). */
  maxAmplification: 2,
  /** A client needs a few Binding requests per second (keepalives, discovery bursts of ~10).
   *  Per source IP, because a CGN puts many users behind one address, 200/s with a burst of 400
   *  leaves them room while capping one flooding host at a few percent of a server's rate. */
  rateLimit: { perSecond: 200, burst: 400, maxSources: 65_536 },
  /**
   * UDP replies of one server process (Binding answers and errors, every source together), in
   * bytes on the wire per second; a second's worth is the burst. Each `--workers` process has
   * its own. The per-source limit above gives every new source a full bucket, and a flood that
   * spoofs a new source per packet (a whole victim network's addresses) also makes the bounded
   * source table forget the old ones: without this bound the bytes reflected grew with the flood
   * until the CPU ran out (RFC 8489 §16.1.3, RFC 5780 §9.1).
   *
   * What it protects, and so its size: a Binding answer is about the size of its request (at
   * most 2×, maxAmplification; one packet per packet), so reflecting off this server buys an
   * attacker a hidden source, not leverage: the budget caps how many bytes a spoofed-source
   * flood turns into traffic towards its victims (and this host's egress). But it is shared by
   * every source: once a flood fills it, honest clients go unanswered too. Below what the
   * process can answer, it therefore makes silencing the server cheaper (a flood of half the
   * budget does it) while saving victims little — so it sits at the process's capacity, not
   * under it. 24 MiB/s is 262,144 bare Binding answers/s (96 bytes on the wire each): one
   * process answers up to ~260k/s with batched I/O on the 2-core machine the benchmarks run on
   * (dgram ~77k/s), so honest load is cut by the CPU before the budget, and one process
   * reflects at most ~200 Mbit/s however many addresses a flood spoofs, on faster hardware too.
   * An operator who wants a smaller reflector sets `--reply-budget` lower.
   */
  replyBytesPerSecond: 24 * 1024 * 1024,
} as const;

/** TCP limits (RFC 8489 §6.2.2 framing by the length field). */
export const TCP_LIMITS = {
  /** Largest framed message accepted; a Binding request with credentials is < 600 bytes. */
  maxFrameBytes: 2048,
  /** Close a connection idle this long (RFC 8489 §6.2.2 suggests at least 10 s after a
   *  transaction; clients open a connection per check). */
  idleTimeoutMs: 30_000,
  /** Concurrent connections. */
  maxConnections: 1024,
  /** Concurrent connections per client IPv4 address / IPv6 /64 (issue 8, finding 6): a client
   *  needs one per check in flight, a CGN address a few clients' worth; one address can then
   *  hold at most 1/128 of the server's slots. */
  maxConnectionsPerIp: 8,
  /**
   * Replies queued in memory for one connection before the server stops reading its requests
   * (a slow reader: it pipelines Bindings and never reads the answers). Without the pause one
   * connection could queue every answer to gigabytes of requests; with it, a connection holds at
   * most this plus the answers to one read chunk (≤ 64 KiB of requests). Reading resumes at
   * 'drain'; a connection paused this long is closed by the idle timer (no data, no re-arm).
   */
  maxQueuedReplyBytes: 64 * 1024,
} as const;

/** NAT discovery defaults (`NatDiscoveryOptions`). */
export const DISCOVERY_DEFAULTS = {
  /** Probes expect answers within a round trip or two; a filtered probe costs the full wait,
   *  so: 250 ms doubling, 4 requests, last wait 1 s → 2.75 s per unanswered probe. */
  retransmission: { rtoMs: 250, maxRequests: 4, lastWaitMultiplier: 4 },
  /** Request size so a server bounding responses at 2× (ours; RFC 5780 §9.1) still includes
   *  OTHER-ADDRESS and RESPONSE-ORIGIN, also for IPv6 (20+24+24+24+8+software ≈ 120). */
  padRequestTo: 80,
  /** How long a lifetime probe waits for the RESPONSE-PORT answer. */
  lifetimeAnswerWaitMs: 2_000,
} as const;
