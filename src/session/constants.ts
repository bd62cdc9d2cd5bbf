/**
 * Session timers and limits, each with its reason (STYLE.md §5). Times in milliseconds.
 * Most follow WireGuard's (whitepaper §6.1, "Timers"), which solved the same problem: a Noise IK
 * session over lossy, reorderable datagrams with periodic fresh ephemerals.
 */
export const SESSION_DEFAULTS = {
  /**
   * First handshake retransmission. RFC 6298 §2.1: 1 s initial RTO when nothing is known of the
   * path; a handshake is the first packet on it. Doubles per attempt (RFC 6298 §5.5).
   */
  handshakeRetransmitMs: 1_000,
  /** Cap of the doubling, so a path that comes back is noticed within this. */
  maxHandshakeRetransmitMs: 8_000,
  /**
   * Give up a handshake round after this long (WireGuard tries 90 s; the path ladder has other
   * rungs and re-calls connect(), so 30 s keeps a dead path from hiding behind retries).
   */
  handshakeTimeoutMs: 30_000,
  /** WireGuard REKEY_AFTER_TIME: fresh ephemerals every 2 minutes bound what a key compromise reveals. */
  rekeyAfterMs: 120_000,
  /**
   * The side that answered the current handshake waits longer before starting a rekey itself, so
   * the initiator's rekey usually comes first and the two do not collide (WireGuard staggers the
   * same way). Still 30 s before rejectAfterMs.
   */
  responderRekeyDelayMs: 30_000,
  /** WireGuard REJECT_AFTER_TIME: a keypair older than this is never used again. */
  rejectAfterMs: 180_000,
  /**
   * Rekey after this many messages on one keypair. The nonce is a JS number (exact to 2^53, see
   * cipher-state.ts); at 2^40 messages a 1 Gbit/s stream of 1200-byte datagrams takes 100 days,
   * so time-based rekey always comes first — this is the backstop, far below the nonce cap.
   */
  rekeyAfterMessages: 2 ** 40,
  /** Never send on a keypair past this: leaves room below the nonce cap. */
  rejectAfterMessages: 2 ** 41,
  /**
   * Payloads held while no keypair is usable (handshaking). Bounded, oldest dropped: the
   * ReliableChannel retransmits what is lost here, so the only cost of a drop is one RTO.
   */
  maxQueued: 128,
  /**
   * A responder whose new keys were not confirmed (the initiator's first transport message lost)
   * starts its own handshake after this, if it has something to send.
   */
  confirmTimeoutMs: 2_000,
} as const;

export type SessionTimers = { -readonly [K in keyof typeof SESSION_DEFAULTS]: number };

/** Bytes of the handshake-init payload: Ed25519 public key (32) ‖ timestamp u64 LE (8). */
export const INIT_PAYLOAD_BYTES = 40;
