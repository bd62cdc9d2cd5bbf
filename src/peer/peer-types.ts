/**
 * The public types of `Peer` (peer.ts): its options, what `notify` takes and gives back, what the
 * application receives, and its events.
 */
import type { BackoffOptions } from '../signaling/backoff.js';
import type { RetryInfo, SignalingClient, Welcome } from '../signaling/client.js';
import type { SignalingError } from '../signaling/errors.js';
import type { Identity } from '../signaling/identity.js';
import type {
  Notification,
  SeenTransport,
  ServerMessage,
  Transport,
} from '../signaling/protocol.js';
import type { UdpIo } from '../net/mmsg-network.js';
import type { UdpNetwork } from '../net/udp.js';
import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import type { AllowPolicy } from './contacts.js';

/**
 * How a notification travelled (or waits), best first (DESIGN.md, the delivery ladder): `direct`
 * UDP between the peers, `relay` through serve's TURN relay (both in an end-to-end session),
 * `server-routed` over the server's WebSocket, `mailbox` stored until the recipient comes back
 * (both sealed to the recipient).
 */
export type DeliveryPath = 'direct' | 'relay' | 'server-routed' | 'mailbox';

/**
 * Why a received notification was dropped (counted in `peer.stats.dropped`). `duplicate`: a
 * second copy of one already here (by another rung, or redelivered by the server) — harmless,
 * counted to measure what the ladder's moves and the server's redeliveries send twice.
 */
export type DropReason = 'unsealed' | 'unopenable' | 'forged-sender' | 'swapped-id' | 'duplicate';

export interface PeerOptions {
  /** Server base URL, e.g. `http://127.0.0.1:8787`. */
  server: string;
  /** An identity, or the path of an identity file (created on first use). */
  identity: Identity | string;
  /** Admission token if the server requires one. */
  peerToken?: string;
  /**
   * This peer's region label (`[A-Za-z0-9_.:-]{1,64}`, as `serve --region`), sent in `hello` only
   * when set: a serve with a relay fleet hands it credentials for a relay of that region.
   */
  region?: string;
  /** Abort = `close()`. */
  signal?: AbortSignal;
  /** Remembered ids for dedupe (default 100,000). */
  dedupeCapacity?: number;
  backoff?: BackoffOptions;
  clock?: Clock;
  logger?: Logger;
  /** Passed to the WebSocket client (e.g. `localAddress`). */
  wsOptions?: ConstructorParameters<typeof SignalingClient>[0]['wsOptions'];
  /**
   * `connect()` rejects with NATPUSH_ERR_UNREACHABLE when no attempt has reached the server and
   * authenticated within this long (default: keep trying until `signal` aborts). Each attempt's
   * opening handshake is also cut to this long, so a black-hole listener cannot outlast it.
   */
  connectTimeoutMs?: number;
  /**
   * Who may see this peer's presence and reach it with rendezvous frames (sessions, punches):
   * `'anyone'`, a list of peer ids, or by default the peers it notified or was notified by.
   */
  allow?: AllowPolicy;
  /**
   * UDP paths (relay and direct, on one UDP socket of this peer). Default true; false keeps every
   * notification on the server rungs and opens no UDP socket at all.
   */
  direct?: boolean;
  /**
   * Make the punch layer at login (its UDP socket, candidates gathered, an offer registered with
   * serve so that a punch toward this peer is answered at once) instead of at the first session.
   * Default true: measured in netsim at 25 ms per NAT link (`bench/punch-latency.ts --cold`), the
   * first direct pong between two logged-in peers came at ~300 ms p50 with it and ~600 ms
   * without (the STUN and TURN round trips and the answer trip are then on the critical path).
   * It costs one UDP socket, a STUN Binding every 20 s (which also keeps the NAT mapping the
   * offer names) and one offer held by serve; no relay allocation (made when a punch begins).
   * Ignored when `direct` is false.
   */
  warmDirect?: boolean;
  /** The network for that socket (default the real one, as `udpIo` says) — tests inject a
   *  MemoryNetwork. Given, it wins over `udpIo`. */
  udp?: UdpNetwork;
  /**
   * The real network's UDP input/output, for this peer's punch socket and the sockets its
   * direct-path helpers open (port mapping, port prediction, birthday probes): 'mmsg' batches
   * (recvmmsg up to 64 datagrams per wake-up, the sends of one batch or JS task in one sendmmsg:
   * src/net/mmsg-network.ts, Linux with the udp_mmsg addon built; elsewhere node:dgram with one
   * warning through `logger`), 'dgram' is node:dgram. Default PEER_UDP_IO_DEFAULT ('mmsg').
   */
  udpIo?: UdpIo;
  /**
   * Ask the router for a port mapping of the punch socket (PCP, NAT-PMP, UPnP-IGD; deleted on
   * close) and offer it as the top srflx candidate from the next gather on. Default true (all
   * three probed at once); `{ protocols }` asks with only those (a router known to speak one).
   */
  portmap?: boolean | { protocols: ('pcp' | 'natpmp' | 'upnp')[] };
  /**
   * Measure the NAT's port allocation once (a few STUN bindings from fresh sockets) and, if it
   * is sequential, offer the predicted ports as candidates (issue 11). Default true.
   */
  portPrediction?: boolean;
  /** Addresses offered as host candidates (default: this machine's non-internal IPv4 ones). */
  interfaces?: () => readonly string[];
}

export interface NotifyOptions {
  topic?: string;
  /** Seconds until the server drops it undelivered (default one day, max 7 days). */
  ttl?: number;
  /** Choose the id (idempotency across process restarts); default 16 random bytes. */
  id?: string;
  /**
   * When the recipient is online, wait for its end-to-end ack up to this long (default 5,000 ms;
   * 0 = resolve as soon as the server has stored it).
   */
  deliveryTimeoutMs?: number;
  /**
   * Reject with NATPUSH_ERR_REQUEST_TIMEOUT when the server has not accepted (stored) it within
   * this long (default: wait, resending after each reconnect, until `signal` aborts).
   */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface NotifyResult {
  id: string;
  to: string;
  /** `server-routed`: the recipient acked it; `mailbox`: stored, delivered when it comes back. */
  path: DeliveryPath;
  status: 'delivered' | 'stored';
  /** The recipient's transport when delivered. */
  via?: SeenTransport;
  /** The server had this id already (a retry). */
  duplicate: boolean;
  /** Milliseconds from `notify()` to this result. */
  elapsedMs: number;
}

/**
 * A notification as the application gets it. `path` says how it reached us: `server-routed`
 * (pushed while we were connected) or `mailbox` (stored by the server before this connection
 * came up, i.e. while we were offline).
 */
export type ReceivedNotification = Notification & { path: DeliveryPath };

export interface TurnCredentialsRequestOptions {
  signal?: AbortSignal;
  /** Give up with NATPUSH_ERR_REQUEST_TIMEOUT after this long (default 10,000 ms). */
  timeoutMs?: number;
}

export interface PeerEvents {
  connected: [Welcome];
  disconnected: [SignalingError];
  presence: [{ peer: string; online: boolean; transport?: Transport }];
  /** The path to `peer` changed (notify results, and the session ladder moving up or down). */
  path: [{ peer: string; path: DeliveryPath; reason?: string }];
  /** A punch toward `peer` ended: a relay or direct path, or why it failed. */
  punch: [{ peer: string; ok: boolean; kind?: 'direct' | 'relay'; rttMs?: number; error?: string }];
  delivered: [{ id: string; to: string; via: SeenTransport }];
  /** An attempt to reach the server failed; the next one starts in `delayMs`. */
  reconnecting: [RetryInfo];
  error: [SignalingError];
  /** Rendezvous frames, for the punch layer. */
  signal: [Extract<ServerMessage, { type: 'candidates' | 'punch-start' | 'punch-end' }>];
}
