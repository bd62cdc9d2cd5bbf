/**
 * Options of the TURN server, with their defaults (STYLE.md §5). The CLI parses strings into
 * these; the server never reads argv or env.
 */
import type { UdpNetwork } from '../../net/index.js';
import type { UdpIo } from '../../net/mmsg-network.js';
import { selectUdpNetwork } from '../../net/mmsg-network.js';
import type { Clock } from '../../util/clock.js';
import { systemClock } from '../../util/clock.js';
import type { Logger } from '../../util/logger.js';
import { silentLogger } from '../../util/logger.js';
import {
  DEFAULT_ALLOCATION_LIFETIME_S,
  DEFAULT_MAX_ALLOCATIONS,
  DEFAULT_MAX_ALLOCATIONS_PER_IP,
  DEFAULT_MAX_ALLOCATIONS_PER_USER,
  DEFAULT_MAX_CHANNELS_PER_ALLOCATION,
  DEFAULT_MAX_PERMISSIONS_PER_ALLOCATION,
  DEFAULT_NONCE_TTL_S,
  DEFAULT_REALM,
  DEFAULT_TOTAL_BYTES_PER_SECOND,
  DEFAULT_TURN_PORT,
  DEFAULT_USER_BYTES_PER_SECOND,
  ERROR_REPLY_BYTES_PER_SECOND,
  MAX_ALLOCATION_LIFETIME_S,
  RELAYED_SOCKET_SLOTS,
  SWEEP_INTERVAL_MS,
} from '../constants.js';
import type { CredentialStore } from '../credentials.js';
import type { RelayPeerGate } from '../peer-gate.js';
import type { PeerPolicyOptions } from '../peer-policy.js';
import type { SiblingExchange } from './siblings.js';

export interface TurnServerOptions {
  /**
   * The UDP network (listener and relayed sockets): `nodeUdpNetwork`, a MemoryNetwork host, ...;
   * default real sockets as `udpIo` says.
   */
  net?: UdpNetwork;
  /**
   * Real sockets without `net`: 'mmsg' (default) reads a batch of datagrams per syscall on the
   * listener and on every relayed socket and sends what a batch relays with one sendmmsg per
   * socket (recvmmsg/sendmmsg, native/udp-mmsg; node:dgram with one warning where the addon is not
   * built); 'dgram' one datagram per syscall (node:dgram). Only mmsg drops a datagram longer than
   * its receive slot (MMSG_DEFAULTS.slotBytes), counted as `truncated`. Measured in
   * bench/relay-vs-coturn.ts (issue 10).
   */
  udpIo?: UdpIo;
  /**
   * The network of relayed sockets; default `net` when given, else real sockets as `udpIo` says
   * with RELAYED_SOCKET_SLOTS receive slots each (the listener's batches are larger).
   */
  relayNet?: UdpNetwork;
  clock?: Clock;
  logger?: Logger;
  /** UDP listening address; default '0.0.0.0'. */
  listenAddress?: string;
  /** UDP listening port; default 3478, 0 = any free port. */
  port?: number;
  /**
   * TCP listening port (RFC 8656 §3.1: TURN over TCP for clients whose UDP is blocked), on
   * `listenAddress`; default: none. Uses node:net (the injected network is UDP only).
   */
  tcpPort?: number;
  /** Local address relayed sockets bind to; must be a specific address (not 0.0.0.0). */
  relayAddress: string;
  /** Address put in XOR-RELAYED-ADDRESS when the relay sits behind a 1:1 NAT; default relayAddress. */
  externalAddress?: string;
  /** REALM; default 'natpush'. */
  realm?: string;
  /** Where passwords come from: `sharedSecret(secret)` (TURN REST) or `staticUsers({...})`. */
  credentials: CredentialStore;
  /** Seconds a NONCE stays valid before 438 Stale Nonce; default 600. */
  nonceTtlSeconds?: number;
  /** Peer-address policy; by default private, loopback, link-local, CGN, multicast are refused. */
  peerPolicy?: PeerPolicyOptions;
  /** Default 600 s (RFC 8656 §7.2). */
  defaultLifetimeSeconds?: number;
  /** Default 3600 s (RFC 8656 §7.2). */
  maxLifetimeSeconds?: number;
  /** Whole-server allocation cap (508 beyond it); default 10,000. */
  maxAllocations?: number;
  /** Per-user allocation quota (486 beyond it); default 10. */
  maxAllocationsPerUser?: number;
  /** Allocations per client IPv4 address / IPv6 /64 (486 beyond it); default 100. */
  maxAllocationsPerIp?: number;
  /** Per-user relayed bytes/s, both directions; default 0 = unlimited. */
  userBytesPerSecond?: number;
  /** Relayed bytes/s of the whole server, both directions; default 0 = unlimited. */
  totalBytesPerSecond?: number;
  /** Error replies over UDP of this process, all sources together, in bytes/s on the wire;
   *  default ERROR_REPLY_BYTES_PER_SECOND (256 KiB/s). A second's worth is the burst. */
  errorReplyBytesPerSecond?: number;
  /**
   * Who a user may relay to, beyond the address policy (peer-gate.ts); default none (a plain TURN
   * server). `natpush serve` passes its rendezvous table.
   */
  peerGate?: RelayPeerGate;
  /** Default 64 each. */
  maxPermissionsPerAllocation?: number;
  maxChannelsPerAllocation?: number;
  /**
   * Worker relays to send Allocates to, round robin, with 300 Try Alternate + ALTERNATE-SERVER
   * (RFC 8489 §10, RFC 8656 §7.2): this server then only directs (`natpush relay --workers`).
   */
  alternateServers?: { address: string; port: number }[];
  /**
   * Whole-server allocation counts when several processes serve one port (`relay --workers`):
   * asked after this server's own caps pass, before a relayed socket is bound; told when the
   * allocation ends. Default none (this process is the whole server).
   */
  allocationLedger?: AllocationLedgerClient;
  /**
   * RESERVATION-TOKENs across worker processes: the Allocate that presents a token may reach a
   * worker other than the one holding the reserved port (another 5-tuple); it is handed over.
   */
  reservationExchange?: ReservationExchange;
  /**
   * The other workers on the same SO_REUSEPORT port (siblings.ts): mirrors of their UDP
   * allocations, so a sibling's relayed address is an allowed peer, and packets between clients
   * of different workers skip the kernel round trip — that hand-off only without per-user
   * bandwidth caps (the receiving user's bucket is in the other worker). Only for workers
   * sharing one port. Default none.
   */
  siblingExchange?: SiblingExchange;
  /** How often expired state is swept; default 5 s. */
  sweepIntervalMs?: number;
}

/** See TurnServerOptions.allocationLedger: 'server-full' → 508, 'quota' → 486. */
export interface AllocationLedgerClient {
  acquire(user: string, sourceKey: string): Promise<'ok' | 'server-full' | 'quota'>;
  release(user: string, sourceKey: string): void;
}

/**
 * See TurnServerOptions.reservationExchange. The holder is named by the token's first byte.
 */
export interface ReservationExchange {
  /** This process's tag (0..255), written into the first byte of its tokens. */
  readonly tag: number;
  /** Ask the token's holder to give its reserved port up; the port number, or undefined. */
  claim(token: Uint8Array): Promise<number | undefined>;
  /** Called once by the server: how it gives up one of its own reservations. */
  serve(release: (token: Uint8Array) => Promise<number | undefined>): void;
}

export type ResolvedTurnServerOptions = Required<
  Omit<
    TurnServerOptions,
    | 'tcpPort'
    | 'udpIo'
    | 'externalAddress'
    | 'peerPolicy'
    | 'peerGate'
    | 'allocationLedger'
    | 'reservationExchange'
    | 'siblingExchange'
  >
> &
  Pick<
    TurnServerOptions,
    'tcpPort' | 'peerGate' | 'allocationLedger' | 'reservationExchange' | 'siblingExchange'
  > & {
    externalAddress: string;
    peerPolicy: PeerPolicyOptions;
  };

export function resolveServerOptions(o: TurnServerOptions): ResolvedTurnServerOptions {
  if (!o.relayAddress || o.relayAddress === '0.0.0.0' || o.relayAddress === '::') {
    throw new TypeError('relayAddress must be a specific local address');
  }
  const logger = o.logger ?? silentLogger;
  const r: ResolvedTurnServerOptions = {
    // Listeners get a copy of each datagram (lendViews false): the data path keeps some (TCP
    // clients' write queues, sibling hand-offs).
    net: o.net ?? selectUdpNetwork(o.udpIo ?? 'mmsg', { logger }),
    relayNet:
      o.relayNet ??
      o.net ??
      selectUdpNetwork(o.udpIo ?? 'mmsg', {
        logger,
        slots: RELAYED_SOCKET_SLOTS,
        shareReceiveBuffers: true,
      }),
    clock: o.clock ?? systemClock,
    logger,
    listenAddress: o.listenAddress ?? '0.0.0.0',
    port: o.port ?? DEFAULT_TURN_PORT,
    tcpPort: o.tcpPort,
    relayAddress: o.relayAddress,
    externalAddress: o.externalAddress ?? o.relayAddress,
    realm: o.realm ?? DEFAULT_REALM,
    credentials: o.credentials,
    nonceTtlSeconds: o.nonceTtlSeconds ?? DEFAULT_NONCE_TTL_S,
    peerPolicy: o.peerPolicy ?? {},
    defaultLifetimeSeconds: o.defaultLifetimeSeconds ?? DEFAULT_ALLOCATION_LIFETIME_S,
    maxLifetimeSeconds: o.maxLifetimeSeconds ?? MAX_ALLOCATION_LIFETIME_S,
    maxAllocations: o.maxAllocations ?? DEFAULT_MAX_ALLOCATIONS,
    maxAllocationsPerUser: o.maxAllocationsPerUser ?? DEFAULT_MAX_ALLOCATIONS_PER_USER,
    maxAllocationsPerIp: o.maxAllocationsPerIp ?? DEFAULT_MAX_ALLOCATIONS_PER_IP,
    userBytesPerSecond: o.userBytesPerSecond ?? DEFAULT_USER_BYTES_PER_SECOND,
    totalBytesPerSecond: o.totalBytesPerSecond ?? DEFAULT_TOTAL_BYTES_PER_SECOND,
    errorReplyBytesPerSecond: o.errorReplyBytesPerSecond ?? ERROR_REPLY_BYTES_PER_SECOND,
    peerGate: o.peerGate,
    allocationLedger: o.allocationLedger,
    reservationExchange: o.reservationExchange,
    siblingExchange: o.siblingExchange,
    maxPermissionsPerAllocation:
      o.maxPermissionsPerAllocation ?? DEFAULT_MAX_PERMISSIONS_PER_ALLOCATION,
    maxChannelsPerAllocation: o.maxChannelsPerAllocation ?? DEFAULT_MAX_CHANNELS_PER_ALLOCATION,
    sweepIntervalMs: o.sweepIntervalMs ?? SWEEP_INTERVAL_MS,
    alternateServers: o.alternateServers ?? [],
  };
  if (r.defaultLifetimeSeconds <= 0 || r.maxLifetimeSeconds < r.defaultLifetimeSeconds) {
    throw new RangeError('need 0 < defaultLifetimeSeconds <= maxLifetimeSeconds');
  }
  for (const k of ['maxAllocations', 'maxAllocationsPerUser', 'maxAllocationsPerIp'] as const) {
    if (!Number.isInteger(r[k]) || r[k] < 1) throw new RangeError(`${k} must be an integer >= 1`);
  }
  for (const k of ['userBytesPerSecond', 'totalBytesPerSecond'] as const) {
    if (!(r[k] >= 0)) throw new RangeError(`${k} must be >= 0`);
  }
  // No "0 = unlimited" here: an unbounded reflector is never what an operator wants.
  if (!(r.errorReplyBytesPerSecond >= 1) || r.errorReplyBytesPerSecond === Infinity) {
    throw new RangeError('errorReplyBytesPerSecond must be a finite number >= 1');
  }
  return r;
}
