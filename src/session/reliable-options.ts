/**
 * ReliableChannel's configuration: what it needs of the session below, its defaults (each with
 * the bound it sets and why), its options and its counters.
 */
import type { RttOptions } from './rtt-estimator.js';

/** What the channel needs of a session: SecureSession fits. */
export interface DatagramSession {
  /**
   * 'queued' = held until a handshake completes (excluded from RTT samples). `payload` is the
   * channel's reused buffer: seal or copy it before returning, never keep it.
   */
  send(payload: Uint8Array): 'sent' | 'queued' | void;
  /** The payload is handed over: the channel keeps it (out-of-order buffer, inbound-queue.ts). */
  onMessage(cb: (payload: Uint8Array) => void): () => void;
}

export const RELIABLE_DEFAULTS = {
  /**
   * Largest session datagram (bytes, including the 30-byte session overhead). 1200 is QUIC's
   * floor (RFC 9000 §14): it fits a 1280-byte IPv6 MTU with IP/UDP headers and a TURN
   * ChannelData header, and the 1400-byte `p2p` frame (CONTRACTS §1).
   */
  mtu: 1200,
  /** 16 KiB bodies, as LIMITS.maxBodyBytes of the signaling server. */
  maxBodyBytes: 16 * 1024,
  /**
   * Packets buffered out of order per channel (and advertised as the flow-control window):
   * 256 × 1200 B ≈ 300 KiB worst case per peer, only while a gap is open. Sized with
   * `maxInFlightPackets` below (the sender never has more unacked than this window).
   */
  recvWindowPackets: 256,
  /**
   * Ceiling of the congestion window (congestion-window.ts; ≤ the receiver's window): unacked
   * packets a sender may have in flight. Each holds a reference to a fragment of a notification
   * already counted in the queue bound, so it adds ~100 bytes of bookkeeping per packet.
   *
   * The window/memory trade-off (round 6, decided): 256 packets. Memory bound: bytes in flight
   * per session ≤ 256 × 1,170 B ≈ 300 KiB (kept by the sender for retransmission), and as much
   * in the receiver's out-of-order buffer; × 256 sessions (link-table.ts MAX_LINKS) ≈ 75 MiB
   * per side, reached only if every link floods at once with a gap open (1024 made that 300 MiB,
   * the 4096 tried in round 4 1.2 GiB). Measured with bench/direct-throughput.ts `--compare`
   * (load 12–17 on 2 cores): A B B A runs, 256 against 1024, mean msg/s 256/1024 = 1.04 for
   * 1,000-byte and 0.96 for 100-byte bodies; single pairs swung 0.5×–3× either way (6 in the
   * ladder, 2 through the bare channel). On this lab's sub-millisecond path the rate is set by
   * the CPU the two processes get, not by the window: more in flight only lengthens the standing
   * queue, never measurably the rate, so the window is sized for memory. The cost: a path of
   * round trip R carries at most 256 packets per R — at 100 ms, 2,560 packets/s (~20,000
   * 100-byte notifications/s coalesced, or 2,560 of 1 KB), ample for notifications.
   */
  maxInFlightPackets: 256,
  /** Congestion window at the start and after a path change (slow start grows it per ack). */
  initialWindowPackets: 32,
  /** Congestion window after a retransmission timeout (RFC 9002 §7.2: 2 packets). */
  minWindowPackets: 2,
  /**
   * Notifications waiting to be sent; `send` beyond this fails with BACKPRESSURE (and a Peer
   * sends that one through the server instead). 1792 + the 256 in flight = 2048 unsettled, as
   * with 1024 + 1024 before the window went to 256: an app gets the same room before
   * BACKPRESSURE, and the bound of bodies held per session (≤ 2048 × 16 KiB) is unchanged.
   */
  maxQueuedMessages: 1792,
  /** `send` rejects with SEND_TIMEOUT after this (the notification may still arrive later). */
  sendTimeoutMs: 30_000,
  /** Delayed ack (RFC 9000 §18.2 default max_ack_delay is 25 ms; smaller for latency). */
  ackDelayMs: 10,
  /**
   * Data packets (frames) acknowledged by one immediate ack. RFC 9000 §13.2.2 acks every second
   * ack-eliciting *datagram*; a coalesced datagram holds up to ~10 small notifications, so this
   * counts frames instead: 32 = the initial congestion window, so the sender's window never
   * runs dry waiting for an ack, while a 100-byte flood needs one ack per ~32 notifications
   * rather than one per 2 (and each burst's end is acked at once anyway: DATA_ACK_NOW).
   * Measured (direct-throughput --connector, paired runs, 100 B): 16 → 10.4k / 14.4k msg/s,
   * 32 → 15.4k / 18.4k; 64 was not distinguishable from 32 in the noise.
   */
  ackEveryPackets: 32,
  /**
   * …or this many datagrams with data, whichever comes first: large notifications fill a datagram
   * each, and a sender that hears back only every 32 of them sends in long bursts that the
   * two ends cannot work on in parallel (RFC 9000 §13.2.2 says 2; draft-ietf-quic-ack-frequency
   * lets the sender ask for fewer). An ack costs the receiver one AEAD seal and one syscall and
   * the sender one open (~15–20 µs together here): at 4, acks were ~8 µs of a 1,000-byte
   * notification's CPU on both sides together; 8 halved that. 16: the window grows per packet
   * acked, not per ack (congestion-window.ts), so fewer acks do not slow slow start, and a window
   * of ≥ 32 packets still hears back twice per window (each burst's end is acked at once anyway:
   * DATA_ACK_NOW). Measured (both sides in one process over loopback sockets, 1,000-byte flood,
   * three paired runs, best of 3 each): 8 → 43.2 / 42.4 / 44.0 µs of CPU per notification,
   * 16 → 41.7 / 40.9 / 41.1 (−4 %), acks −40 %.
   */
  ackEveryDatagrams: 16,
  /**
   * Ids remembered for dedupe, per channel (= per sender): 4096 × ≤ 64-byte ids ≤ ~300 KiB worst
   * case, typically ~100 KiB; far more than the notifications one round of re-sending covers.
   * 0 turns the channel's dedupe off, for a user that dedupes above it: `Peer` does (its Inbox
   * dedupes per (sender, id) across every rung, src/peer/dedupe.ts), so one table, not two.
   */
  dedupeCapacity: 4096,
  /** Outstanding pings. */
  maxPings: 16,
} as const;

export type ReliableOptions = { -readonly [K in keyof typeof RELIABLE_DEFAULTS]?: number } & {
  rtt?: RttOptions;
};

export interface ReliableStats {
  notificationsSent: number;
  notificationsDelivered: number;
  duplicatesDropped: number;
  packetsSent: number;
  retransmissions: number;
  fastRetransmissions: number;
  timeouts: number;
  acksSent: number;
  outOfWindow: number;
  protocolErrors: number;
}

/** Every counter at zero. */
export function newReliableStats(): ReliableStats {
  return {
    notificationsSent: 0,
    notificationsDelivered: 0,
    duplicatesDropped: 0,
    packetsSent: 0,
    retransmissions: 0,
    fastRetransmissions: 0,
    timeouts: 0,
    acksSent: 0,
    outOfWindow: 0,
    protocolErrors: 0,
  };
}
